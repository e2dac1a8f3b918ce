import * as OpenAiEmulator from "@bulwark/emulators/OpenAiEmulator"
import { expectDocSection } from "@bulwark/test-support/DocRegions"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Option, Redacted, Stream } from "effect"
import * as Llm from "../src/Llm.js"

describe("docs/clients/llm.section.md", () => {
  it("its code blocks are the regions of this file", () => expectDocSection("clients.md", __filename))

  it.live("the program runs against the emulator", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ apiKey: "sk-test", seed: 1 })
      const url = `${emulator.url}/v1`
      // #region llm-program
      const program = Effect.gen(function*() {
        const llm = yield* Llm.Llm
        const completion = yield* llm.create({
          messages: [{ role: "user", content: "Summarise issue #5 in one line" }],
          max_completion_tokens: 200
        }, { task: "summarise" })
        const budget = yield* llm.rateLimits // from the answer's x-ratelimit-* headers
        return { text: completion.choices[0]?.message.content, budget }
      }).pipe(
        Effect.catchTags({
          QuotaExceeded: (error) => Effect.fail(`out of credit: ${error.detail}`),
          RetriesExhausted: (error) => Effect.fail(`gave up after ${error.attempts} attempts`)
        })
      )

      const LlmLive = Llm.layer({ baseUrl: url, apiKey: Redacted.make("sk-test"), model: "gpt-4o-mini" }).pipe(
        Layer.provide(FetchHttpClient.layer)
      )
      const result = yield* program.pipe(Effect.provide(LlmLive))
      // { text: "…", budget: Some({ requests: { limit: 500, remaining: 499, … }, tokens: { … } }) }
      // #endregion
      expect(result.text).toMatch(/\w/)
      expect(Option.getOrThrow(result.budget).requests?.remaining).toBe(499)

      // #region llm-stream
      const words = yield* Effect.gen(function*() {
        const llm = yield* Llm.Llm
        return yield* llm.stream({ messages: [{ role: "user", content: "Hi" }] }).pipe(
          Stream.map((chunk) => chunk.choices[0]?.delta.content ?? ""),
          Stream.runCollect
        )
      }).pipe(Effect.provide(LlmLive))
      // the pieces of the answer, in order; an error event mid-stream fails with StreamFailed
      // #endregion
      expect(Chunk.join(words, "")).toMatch(/\w/)
    }).pipe(Effect.scoped))

  it.effect("layerConfig reads LLM_*", () =>
    Effect.gen(function*() {
      // #region llm-config
      // LLM_API_KEY=sk-…  LLM_BASE_URL=http://localhost:11434/v1  LLM_MODEL=llama3.2:3b
      // LLM_RETRY_MAX_ATTEMPTS=5  LLM_TIMEOUT="30 seconds"  LLM_MIN_REQUEST_INTERVAL="100 millis"
      const LlmLive = Llm.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))
      // #endregion
      expect(Layer.isLayer(LlmLive)).toBe(true)
    }))
})
