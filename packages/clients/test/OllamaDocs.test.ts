import * as OllamaEmulator from "@bulwark/emulators/OllamaEmulator"
import { expectDocSection } from "@bulwark/test-support/DocRegions"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Stream } from "effect"
import * as Ollama from "../src/Ollama.js"

describe("docs/clients/ollama.section.md", () => {
  it("its code blocks are the regions of this file", () => expectDocSection("clients.md", __filename))

  it.live("the program runs against the emulator", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ seed: 2, tokenLatency: "0ms" })
      const host = emulator.url
      // #region ollama-program
      const program = Effect.gen(function*() {
        const ollama = yield* Ollama.Ollama
        if (!(yield* ollama.waitForCapacity({ timeout: "60 seconds" }))) return "ollama is not ready"
        const answer = yield* ollama.generate(
          { model: "qwen2.5-coder:7b", prompt: "def fib(n):", options: { num_predict: 32 } },
          { clientJobId: "HumanEval/0" }
        )
        return answer.response
      }).pipe(
        Effect.catchTags({
          ModelNotFound: (error) => Effect.succeed(`pull it first: ollama pull ${error.model}`),
          RetriesExhausted: (error) =>
            Effect.succeed(Ollama.isOverloaded(error) ? "Ollama is overloaded, try again later" : error.message)
        })
      )

      const OllamaLive = Ollama.layer({ baseUrl: host }).pipe(Layer.provide(FetchHttpClient.layer))
      const text = yield* program.pipe(Effect.provide(OllamaLive))
      // #endregion
      expect(text).toMatch(/\w/)

      // #region ollama-stream
      const streamed = yield* Effect.gen(function*() {
        const ollama = yield* Ollama.Ollama
        return yield* ollama.chatStream({
          model: "llama3.2:3b",
          messages: [{ role: "user", content: "Hi" }]
        }).pipe(
          Stream.map((chunk) => chunk.message.content),
          Stream.mkString
        )
      }).pipe(Effect.provide(OllamaLive))
      // a cut stream fails with StreamTruncated, an error line with StreamFailed: never re-sent
      // #endregion
      expect(streamed).toMatch(/\w/)
    }).pipe(Effect.scoped))

  it.effect("the size rule and layerConfig", () =>
    Effect.gen(function*() {
      // #region ollama-timeouts
      const ollama = yield* Ollama.make({ timeouts: { byModel: { "deepseek-coder:33b": "10 minutes" } } })
      ollama.timeoutFor("qwen2.5-coder:7b") // 3 minutes: below 13B
      ollama.timeoutFor("qwen2.5-coder:32b") // 5 minutes: the default
      ollama.timeoutFor("codellama:70b") // 10 minutes: 70B and up
      ollama.timeoutFor("mixtral:8x7b") // 5 minutes: 8 × 7 = 56B
      ollama.timeoutFor("deepseek-coder:33b") // 10 minutes: byModel first
      // #endregion
      const minutes = (model: string) => Duration.toMinutes(ollama.timeoutFor(model)!)
      expect(
        ["qwen2.5-coder:7b", "qwen2.5-coder:32b", "codellama:70b", "mixtral:8x7b", "deepseek-coder:33b"].map(minutes)
      )
        .toEqual([3, 5, 10, 5, 10])

      // #region ollama-config
      // OLLAMA_HOST=llm-server:11434  OLLAMA_TIMEOUT="300 seconds"  OLLAMA_RETRY_MAX_ATTEMPTS=6
      // OLLAMA_TIMEOUT_SMALL="3 minutes"  OLLAMA_TIMEOUT_LARGE="10 minutes"
      // OLLAMA_MODEL_TIMEOUTS="codellama:70b=15 minutes,llama3.2=1 minute"
      const OllamaLive = Ollama.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))
      // #endregion
      expect(Layer.isLayer(OllamaLive)).toBe(true)
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})
