import { Errors, Retry } from "@bulwark/core"
import * as HttpFailures from "@bulwark/http/HttpFailures"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Option } from "effect"
import * as OpenAiEmulator from "../src/OpenAiEmulator.js"

/** Three attempts, 1 ms apart: the tests sleep for real, so only server hints make them wait. */
const fast = { retry: { maxAttempts: 3, base: "1 millis", jitter: "none" } } as const

const hello = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hello" }] }

const completion = (emulator: OpenAiEmulator.Service, body: unknown = hello) =>
  HttpClientRequest.post(`${emulator.url}/v1/chat/completions`).pipe(
    HttpClientRequest.bearerToken("sk-test"),
    HttpClientRequest.bodyUnsafeJson(body)
  )

const elapsedOf = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const result = yield* Effect.either(self)
    return { result, elapsed: (yield* Clock.currentTimeMillis) - start }
  })

const client = (policy: ResilientClient.Options["policy"] = fast) => ResilientClient.make({ service: "openai", policy })

describe("OpenAiEmulator with ResilientClient", () => {
  it.live("a 429's retry-after-ms is honoured, then the completion succeeds", () =>
    Effect.gen(function*() {
      // a slow refill, so that a loaded machine cannot send the second request after it
      const emulator = yield* OpenAiEmulator.make({ requestsPerMinute: 1, window: "1 second" })
      const openai = yield* client()
      yield* openai.execute(completion(emulator))
      const { elapsed, result } = yield* elapsedOf(Effect.flatMap(openai.execute(completion(emulator)), (r) => r.json))
      expect(result._tag).toBe("Right")
      expect(result._tag === "Right" && (result.right as any).object).toBe("chat.completion")
      // the 1 ms backoff alone would have spent its three attempts in a few ms
      expect(elapsed).toBeGreaterThanOrEqual(60)
      expect((yield* emulator.stats).responses).toEqual({ 200: 2, 429: 1 })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("Retry-After in whole seconds when it is the only hint", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({
        requestsPerMinute: 1,
        window: "300 millis",
        retryHints: "retry-after"
      })
      const openai = yield* client()
      yield* openai.execute(completion(emulator))
      const refused = yield* Effect.flip(openai.classified.execute(completion(emulator)))
      expect(refused).toMatchObject({ _tag: "RateLimited", status: 429, retryAfter: Duration.seconds(1) })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("without retry hints, an empty request bucket's x-ratelimit-reset-requests is the hint", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ requestsPerMinute: 1, window: "1 second", retryHints: "none" })
      const openai = yield* client()
      yield* openai.execute(completion(emulator))
      const refusedAt = yield* Clock.currentTimeMillis
      const refused = yield* Effect.flip(openai.classified.execute(completion(emulator)))
      expect(refused).toBeInstanceOf(Errors.RateLimited)
      const failed = HttpFailures.failedResponse(refused)!
      expect(failed.response.headers["x-ratelimit-remaining-requests"]).toBe("0")
      expect(failed.hint).toMatchObject({ _tag: "Delay", header: "x-ratelimit-reset-requests" })
      const hint = Duration.toMillis((refused as Errors.RateLimited).retryAfter!)
      expect(hint).toBeGreaterThan(0)
      expect(hint).toBeLessThanOrEqual(1000)
      const { result } = yield* elapsedOf(openai.execute(completion(emulator)))
      expect(result._tag).toBe("Right")
      // the bucket refills `hint` after the refusal, which came after `refusedAt`: no success before
      expect((yield* Clock.currentTimeMillis) - refusedAt).toBeGreaterThanOrEqual(hint - 2)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a minute-long wait beyond maxRetryAfter: it gives up at once, typed", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ requestsPerMinute: 1 })
      const openai = yield* client({ retry: { ...fast.retry, maxRetryAfter: "10 seconds" } })
      yield* openai.execute(completion(emulator))
      const error = yield* Effect.flip(openai.execute(completion(emulator)))
      expect(error).toBeInstanceOf(Retry.RetriesExhausted)
      expect(error).toMatchObject({
        reason: "retry-after-beyond-cap",
        attempts: 1,
        lastError: { _tag: "RateLimited", status: 429, service: "openai" }
      })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("400, 401 and 404 are not retried: HttpRejected with status and OpenAI's body in the excerpt", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ apiKey: "sk-test" })
      const openai = yield* client()
      const cases: Array<[HttpClientRequest.HttpClientRequest, number, string]> = [
        [completion(emulator, { ...hello, temperature: 9 }), 400, "\"param\":\"temperature\""],
        [HttpClientRequest.bearerToken(completion(emulator), "sk-nope-nope-nope"), 401, "invalid_api_key"],
        [completion(emulator, { ...hello, model: "gpt-0" }), 404, "model_not_found"]
      ]
      for (const [request, status, text] of cases) {
        const error = yield* Effect.flip(openai.execute(request))
        expect(error).toBeInstanceOf(HttpFailures.HttpRejected)
        expect(error).toMatchObject({ status, service: "openai" })
        expect((error as HttpFailures.HttpRejected).excerpt).toContain(text)
        expect((error as HttpFailures.HttpRejected).headers["x-request-id"]).toMatch(/^req_/)
      }
      expect((yield* emulator.stats).requests).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("x-should-retry: false makes a 429 HttpRejected; insufficient_quota needs a classify override", () =>
    Effect.gen(function*() {
      const forbidden = yield* OpenAiEmulator.make({ requestsPerMinute: 1, window: "50 millis", shouldRetry: false })
      const openai = yield* client()
      yield* openai.execute(completion(forbidden))
      expect(yield* Effect.flip(openai.execute(completion(forbidden)))).toMatchObject({
        _tag: "HttpRejected",
        status: 429
      })
      expect((yield* forbidden.stats).requests).toBe(2)

      const broke = yield* OpenAiEmulator.make({ quota: 0 })
      // As any 429 without a hint, the backoff retries it until the attempts run out...
      expect(yield* Effect.flip(openai.execute(completion(broke)))).toMatchObject({
        _tag: "RetriesExhausted",
        attempts: 3,
        lastError: { _tag: "RateLimited", status: 429 }
      })
      // ...unless the client reads the code: retrying cannot buy credit.
      const reading = yield* ResilientClient.make({
        service: "openai",
        policy: fast,
        classify: {
          classify: (response, excerpt) =>
            response.status === 429 && excerpt.includes("\"insufficient_quota\"")
              ? Option.some(new Errors.Rejected({ service: "openai", detail: "insufficient_quota" }))
              : undefined
        }
      })
      yield* broke.resetStats
      expect(yield* Effect.flip(reading.execute(completion(broke)))).toMatchObject({
        _tag: "Rejected",
        detail: "insufficient_quota"
      })
      expect((yield* broke.stats).requests).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a 503 window's retry-after-ms is waited out; a 500 on an unkeyed POST is not retried, keyed it is", () =>
    Effect.gen(function*() {
      const openai = yield* client({ retry: { maxAttempts: 3, base: "60 millis", jitter: "none" } })
      const down = yield* OpenAiEmulator.make({ faults: "status=503@0s-150ms" })
      const outage = yield* elapsedOf(openai.execute(completion(down)))
      expect(outage.result._tag).toBe("Right")
      expect(outage.elapsed).toBeGreaterThanOrEqual(100)
      expect((yield* down.stats).responses).toEqual({ 200: 1, 503: 1 })

      const failing = yield* OpenAiEmulator.make({ faults: "status=500@0s-100ms" })
      const error = yield* Effect.flip(openai.execute(completion(failing)))
      expect(error).toMatchObject({ _tag: "ServerError", status: 500, service: "openai" })
      const response = yield* openai.execute(completion(failing), { idempotencyKey: "completion-1" })
      expect(response.status).toBe(200)
      const { responses } = yield* failing.stats
      // one 500 for the unkeyed POST, then the keyed one retried through the rest of the window
      expect(responses[200]).toBe(1)
      expect(responses[500]).toBeGreaterThanOrEqual(2)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a reset and latency past the attempt timeout: retried only with an idempotency key", () =>
    Effect.gen(function*() {
      const openai = yield* client({
        ...fast,
        retry: { ...fast.retry, base: "80 millis" },
        attemptTimeout: "100 millis"
      })
      const dropping = yield* OpenAiEmulator.make({ faults: "reset@0s-100ms" })
      expect(yield* Effect.flip(openai.execute(completion(dropping)))).toBeInstanceOf(Errors.ConnectionFailed)
      const kept = yield* openai.execute(completion(dropping), { idempotencyKey: "k-1" })
      expect(kept.status).toBe(200)

      const slow = yield* OpenAiEmulator.make({ faults: "latency=300ms@0s-200ms" })
      const timedOut = yield* Effect.flip(openai.execute(completion(slow)))
      expect(timedOut).toMatchObject({ _tag: "AttemptTimedOut" })
      yield* Effect.sleep("100 millis")
      const response = yield* openai.execute(completion(slow), { idempotencyKey: "k-2" })
      expect(response.status).toBe(200)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("slow-body, wrong-content-type and truncated-json pass as 2xx: decoding them is the caller's failure", () =>
    Effect.gen(function*() {
      const openai = yield* client()
      const trickling = yield* OpenAiEmulator.make({ faults: "slow-body=100ms" })
      const { elapsed, result } = yield* elapsedOf(Effect.flatMap(openai.execute(completion(trickling)), (r) => r.json))
      expect(result._tag).toBe("Right")
      expect(elapsed).toBeGreaterThanOrEqual(80)
      const html = yield* OpenAiEmulator.make({ faults: "wrong-content-type" })
      const page = yield* openai.execute(completion(html))
      expect(page.headers["content-type"]).toContain("text/html")
      const cut = yield* OpenAiEmulator.make({ faults: "truncated-json" })
      const truncated = yield* openai.execute(completion(cut))
      expect((yield* Effect.either(truncated.json))._tag).toBe("Left")
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})
