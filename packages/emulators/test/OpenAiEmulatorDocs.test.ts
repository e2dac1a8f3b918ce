import * as ResilientClient from "@bulwark/http/ResilientClient"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import OpenAI from "openai"
import * as OpenAiEmulator from "../src/OpenAiEmulator.js"

describe("docs/emulators/openai.md", () => {
  it("shows only code these tests run", () => expectDocRegions("emulators/openai.md", __filename))

  it.live("start and call it with the openai SDK", () =>
    Effect.gen(function*() {
      // #region start
      const emulator = yield* OpenAiEmulator.make({ apiKey: "sk-test", seed: 7 })
      const openai = new OpenAI({ baseURL: `${emulator.url}/v1`, apiKey: "sk-test" })
      const completion = yield* Effect.promise(() =>
        openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
      )
      // completion.choices[0].message.content: seeded words, the same on every run
      // completion.usage: { prompt_tokens: 7, completion_tokens: ..., total_tokens: ... }
      // #endregion start
      expect(completion.usage?.prompt_tokens).toBe(7)
      expect(completion.choices[0]?.message.content).toMatch(/\.$/)
    }).pipe(Effect.scoped))

  it.live("limits and the SDK's retry", () =>
    Effect.gen(function*() {
      // #region limits
      const emulator = yield* OpenAiEmulator.make({
        requestsPerMinute: 2, // per window: 2 requests
        tokensPerMinute: 10_000,
        window: "2 seconds", // a full bucket refills in 2 s instead of a minute
        retryHints: "both" // 429s carry retry-after-ms and retry-after
      })
      const openai = new OpenAI({ baseURL: `${emulator.url}/v1`, apiKey: "any", maxRetries: 2 })
      const ask = () =>
        Effect.promise(() =>
          openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
        )
      yield* Effect.all([ask(), ask(), ask()])
      const seen = yield* emulator.requests
      // the third was refused once, then retried by the SDK after retry-after-ms (about a second):
      // seen.map((r) => [r.retryCount, r.status]) → [[0, 200], [0, 200], [0, 429], [1, 200]]
      // #endregion limits
      expect(seen.map((r) => [r.retryCount, r.status])).toEqual([[0, 200], [0, 200], [0, 429], [1, 200]])
    }).pipe(Effect.scoped))

  it.live("with ResilientClient", () =>
    Effect.gen(function*() {
      // #region resilient
      const emulator = yield* OpenAiEmulator.make({ requestsPerMinute: 1, window: "1 second", faults: "reset~0.2" })
      const client = yield* ResilientClient.make({
        service: "openai",
        policy: { retry: { maxAttempts: 5, base: "10 millis" } }
      })
      const request = HttpClientRequest.post(`${emulator.url}/v1/chat/completions`).pipe(
        HttpClientRequest.bodyUnsafeJson({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
      )
      // an idempotency key makes the POST safe to retry after a dropped connection
      const first = yield* client.execute(request, { idempotencyKey: "a" })
      const second = yield* client.execute(request, { idempotencyKey: "b" }) // waits out the 429's retry-after-ms
      // #endregion resilient
      expect([first.status, second.status]).toEqual([200, 200])
      expect((yield* emulator.stats).responses[429]).toBeGreaterThanOrEqual(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})
