import { Errors, Retry } from "@bulwark/core"
import * as HttpFailures from "@bulwark/http/HttpFailures"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Option, TestClock } from "effect"
import * as OpenAiEmulator from "../src/OpenAiEmulator.js"
import { elapse, nextWaits, pollUntil } from "./utils/testClock.js"

/** Three attempts, 1 ms apart: only server hints make them wait longer (some tests sleep for real). */
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

// The tests on the TestClock: no time passes between requests, however slow the machine, until the test
// moves the clock on, and the waits of the client (its backoff, a server's hint) are read off the clock.
describe("OpenAiEmulator with ResilientClient", () => {
  it.scoped("a 429's retry-after-ms is honoured, then the completion succeeds", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ requestsPerMinute: 1, window: "1 second" })
      const openai = yield* client()
      yield* openai.execute(completion(emulator))
      const second = yield* Effect.fork(Effect.flatMap(openai.execute(completion(emulator)), (r) => r.json))
      // the bucket is full again a window after the first request: a wait of 1 s, not the 1 ms backoff
      expect(yield* nextWaits).toEqual([1000])
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(second)).toMatchObject({ object: "chat.completion" })
      expect((yield* emulator.stats).responses).toEqual({ 200: 2, 429: 1 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("Retry-After in whole seconds when it is the only hint", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({
        requestsPerMinute: 1,
        window: "300 millis",
        retryHints: "retry-after"
      })
      const openai = yield* client()
      yield* openai.execute(completion(emulator))
      const refused = yield* Effect.flip(openai.classified.execute(completion(emulator)))
      // 300 ms, rounded up
      expect(refused).toMatchObject({ _tag: "RateLimited", status: 429, retryAfter: Duration.seconds(1) })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("without retry hints, an empty request bucket's x-ratelimit-reset-requests is the hint", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ requestsPerMinute: 1, window: "1 second", retryHints: "none" })
      const openai = yield* client()
      yield* openai.execute(completion(emulator))
      const refused = yield* Effect.flip(openai.classified.execute(completion(emulator)))
      expect(refused).toBeInstanceOf(Errors.RateLimited)
      const failed = HttpFailures.failedResponse(refused)!
      expect(failed.response.headers["x-ratelimit-remaining-requests"]).toBe("0")
      expect(failed.response.headers["x-ratelimit-reset-requests"]).toBe("1s")
      expect(failed.hint).toMatchObject({ _tag: "Delay", header: "x-ratelimit-reset-requests" })
      expect(Duration.toMillis((refused as Errors.RateLimited).retryAfter!)).toBe(1000)
      const response = yield* Effect.fork(openai.execute(completion(emulator)))
      expect(yield* nextWaits).toEqual([1000])
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(response)).status).toBe(200)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

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
      // a minute's refill: a loaded machine cannot send the second request after it
      const forbidden = yield* OpenAiEmulator.make({ requestsPerMinute: 1, shouldRetry: false })
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

  it.scoped("a 503 window's retry-after-ms is waited out; a 500 on an unkeyed POST is not retried, keyed it is", () =>
    Effect.gen(function*() {
      const openai = yield* client({ retry: { maxAttempts: 3, base: "60 millis", jitter: "none" } })
      const down = yield* OpenAiEmulator.make({ faults: "status=503@0s-150ms" })
      const outage = yield* Effect.fork(openai.execute(completion(down)))
      // one 503, then a wait of the time left in the window (retry-after-ms), not the 60 ms backoff
      expect(yield* nextWaits).toEqual([150])
      yield* TestClock.adjust("150 millis")
      expect((yield* Fiber.join(outage)).status).toBe(200)
      expect((yield* down.stats).responses).toEqual({ 200: 1, 503: 1 })

      const failing = yield* OpenAiEmulator.make({ faults: "status=500@0s-100ms" })
      const error = yield* Effect.flip(openai.execute(completion(failing)))
      expect(error).toMatchObject({ _tag: "ServerError", status: 500, service: "openai" })
      const keyed = yield* Effect.fork(openai.execute(completion(failing), { idempotencyKey: "completion-1" }))
      // a 500 carries no hint: the backoff, 60 ms, then 120 ms, which ends past the window
      yield* elapse(60)
      yield* elapse(120)
      expect((yield* Fiber.join(keyed)).status).toBe(200)
      // one 500 for the unkeyed POST, two for the keyed one inside the window
      expect((yield* failing.stats).responses).toEqual({ 200: 1, 500: 3 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("a reset: retried only with an idempotency key", () =>
    Effect.gen(function*() {
      const openai = yield* client({ retry: { ...fast.retry, base: "150 millis" } })
      const dropping = yield* OpenAiEmulator.make({ faults: "reset@0s-100ms" })
      expect(yield* Effect.flip(openai.execute(completion(dropping)))).toBeInstanceOf(Errors.ConnectionFailed)
      const kept = yield* Effect.fork(openai.execute(completion(dropping), { idempotencyKey: "k-1" }))
      yield* elapse(150)
      expect((yield* Fiber.join(kept)).status).toBe(200)
      expect((yield* dropping.stats).faults).toEqual({ reset: 2 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("latency past the attempt timeout: AttemptTimedOut, retried only with an idempotency key", () =>
    Effect.gen(function*() {
      const openai = yield* client({
        ...fast,
        retry: { ...fast.retry, base: "80 millis" },
        attemptTimeout: "100 millis"
      })
      const slow = yield* OpenAiEmulator.make({ faults: "latency=300ms@0s-200ms" })
      /** Once the emulator has read the `count`th request (a timeout before that would leave it unseen). */
      const delayed = (count: number) => pollUntil(slow.stats, (stats) => stats.faults.latency === count)
      const unkeyed = yield* Effect.fork(openai.execute(completion(slow)))
      yield* delayed(1)
      yield* TestClock.adjust("100 millis")
      expect(yield* Effect.flip(Fiber.join(unkeyed))).toMatchObject({ _tag: "AttemptTimedOut" })
      const keyed = yield* Effect.fork(openai.execute(completion(slow), { idempotencyKey: "k-2" }))
      yield* delayed(2)
      yield* TestClock.adjust("100 millis")
      // timed out 200 ms into the window; the retry after the 80 ms backoff comes after it
      yield* elapse(80)
      expect((yield* Fiber.join(keyed)).status).toBe(200)
      expect((yield* slow.stats).faults).toEqual({ latency: 2 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

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
