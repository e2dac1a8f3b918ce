// #region llm-complete
import * as Llm from "@bulwark/clients/Llm"
import { FetchHttpClient } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Option } from "effect"

// LLM_BASE_URL (default https://api.openai.com/v1), LLM_API_KEY (a secret), LLM_MODEL, LLM_RETRY_*, …
const LlmLive = Llm.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))

export const main = Effect.gen(function*() {
  const llm = yield* Llm.Llm
  const completion = yield* llm.create({
    messages: [{ role: "user", content: "Summarise issue #5 in one line" }],
    max_completion_tokens: 200
  }, { task: "summarise" })
  const text = completion.choices[0]?.message.content ?? ""
  const budget = yield* llm.rateLimits // what the last answer's x-ratelimit-* headers said
  yield* Console.log(text)
  yield* Option.match(budget, {
    onNone: () => Effect.void,
    onSome: ({ requests }) => Console.log(`requests left this window: ${requests?.remaining ?? "?"}`)
  })
  return text
}).pipe(
  Effect.tapErrorTag("RetriesExhausted", (error) => Console.error(`gave up after ${error.attempts} attempts`)),
  Effect.provide(LlmLive)
)

if (process.argv[1] === import.meta.filename) NodeRuntime.runMain(main)
// #endregion
