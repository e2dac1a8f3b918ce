// #region ollama-complete
import * as Ollama from "@bulwark/clients/Ollama"
import { FetchHttpClient } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Stream } from "effect"

// OLLAMA_HOST as Ollama reads it (default 127.0.0.1:11434), OLLAMA_TIMEOUT, OLLAMA_RETRY_*, …
const OllamaLive = Ollama.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))

export const main = Effect.gen(function*() {
  const ollama = yield* Ollama.Ollama
  const { models } = yield* ollama.tags
  const model = models[0]?.name ?? "qwen2.5-coder:7b"
  if (!(yield* ollama.waitForCapacity({ timeout: "60 seconds" }))) {
    return yield* Console.error("Ollama stayed busy for a minute")
  }
  // The answer as it is generated: a Stream of decoded chunks.
  const text = yield* ollama.generateStream({ model, prompt: "def fib(n):" }).pipe(
    Stream.map((chunk) => chunk.response),
    Stream.mkString
  )
  yield* Console.log(`${model}: ${text}`)
  return text
}).pipe(
  Effect.catchTag("ModelNotFound", (error) => Console.error(`pull it first: ollama pull ${error.model}`)),
  Effect.provide(OllamaLive)
)

if (process.argv[1] === import.meta.filename) NodeRuntime.runMain(main)
// #endregion
