import { Errors, Retry } from "@bulwark/core"
import * as HttpFailures from "@bulwark/http/HttpFailures"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Option, TestClock } from "effect"
import * as GitHubEmulator from "../src/GitHubEmulator.js"
import { appJwt, keyPair } from "./utils/githubJwt.js"
import { elapse, nextWaits, pollUntil } from "./utils/testClock.js"

const app = keyPair()
const epochMillis = 1_800_000_000_000

/** Three attempts, 1 ms apart: only server hints make them wait longer (some tests sleep for real). */
const fast = { retry: { maxAttempts: 3, base: "1 millis", jitter: "none" } } as const

const setup = (options: GitHubEmulator.Options = {}, policy: ResilientClient.Options["policy"] = fast) =>
  Effect.gen(function*() {
    const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey, ...options })
    const client = yield* ResilientClient.make({ service: "github", policy })
    const seconds = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const minted = yield* client.execute(
      HttpClientRequest.post(`${emulator.url}/app/installations/1/access_tokens`).pipe(
        HttpClientRequest.bearerToken(appJwt(42, app.privateKey, seconds))
      )
    )
    const { token } = (yield* minted.json) as { token: string }
    const comment = (body: unknown = { body: "Me too" }, repo = "hello") =>
      HttpClientRequest.post(`${emulator.url}/repos/octo-org/${repo}/issues/1/comments`).pipe(
        HttpClientRequest.setHeader("authorization", `token ${token}`),
        HttpClientRequest.bodyUnsafeJson(body)
      )
    return { emulator, client, comment, token }
  })

// The tests on the TestClock (set to a whole second): no time passes between requests, however slow the
// machine, until the test moves the clock on, and the client's waits are read off the clock.
describe("GitHubEmulator with ResilientClient", () => {
  it.scoped("a secondary limit's retry-after is honoured, then the comment is created", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(epochMillis)
      const { client, comment, emulator } = yield* setup({ secondary: { content: [{ limit: 1, window: "1 second" }] } })
      yield* client.execute(comment())
      const second = yield* Effect.fork(client.execute(comment()))
      // retry-after: 1 (whole seconds), not the 1 ms backoff
      expect(yield* nextWaits).toEqual([1000])
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(second)).status).toBe(201)
      expect((yield* emulator.comments).length).toBe(2)
      expect((yield* emulator.stats).responses).toMatchObject({ 201: 3, 403: 1 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("a 403 with x-ratelimit-remaining 0 is RateLimited, its x-ratelimit-reset the hint", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(epochMillis)
      const { client, comment, emulator } = yield* setup({ primary: { limit: 1, window: "100 millis" } })
      yield* client.execute(comment())
      const refused = yield* Effect.flip(client.classified.execute(comment()))
      expect(refused).toBeInstanceOf(Errors.RateLimited)
      expect(refused).toMatchObject({ status: 403, service: "github" })
      // the window's end rounded up to a whole second, as x-ratelimit-reset is epoch seconds
      expect(Duration.toMillis((refused as Errors.RateLimited).retryAfter!)).toBe(1000)
      // the policy waits for the reset (the 1 ms backoff would not do), then the window has room again
      const third = yield* Effect.fork(client.execute(comment()))
      expect(yield* nextWaits).toEqual([1000])
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(third)).status).toBe(201)
      expect((yield* emulator.stats).responses).toMatchObject({ 201: 3, 403: 2 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.live("an hour-long primary reset is beyond maxRetryAfter: it gives up at once, typed", () =>
    Effect.gen(function*() {
      const { client, comment, emulator } = yield* setup({ primary: { limit: 1 } })
      yield* client.execute(comment())
      const error = yield* Effect.flip(client.execute(comment()))
      expect(error).toBeInstanceOf(Retry.RetriesExhausted)
      expect(error).toMatchObject({
        reason: "retry-after-beyond-cap",
        attempts: 1,
        lastError: { _tag: "RateLimited", status: 403, service: "github" }
      })
      expect((yield* emulator.comments).length).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a secondary limit without retry-after is retried on the backoff until it gives up", () =>
    Effect.gen(function*() {
      const { client, comment } = yield* setup({
        secondary: { content: [{ limit: 1, window: "1 minute" }], status: 429, retryAfter: false }
      })
      yield* client.execute(comment())
      const error = yield* Effect.flip(client.execute(comment()))
      expect(error).toMatchObject({
        _tag: "RetriesExhausted",
        attempts: 3,
        lastError: { _tag: "RateLimited", status: 429, service: "github" }
      })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a 403 secondary limit without retry-after is HttpRejected unless a classify override reads the text", () =>
    Effect.gen(function*() {
      const secondary = { content: [{ limit: 1, window: "1 minute" as const }], retryAfter: false }
      const { client, comment, emulator } = yield* setup({ secondary })
      yield* client.execute(comment())
      // GitHub's rule (wait ≥ 60 s) cannot apply: nothing in the headers says "rate limit"
      const rejected = yield* Effect.flip(client.execute(comment()))
      expect(rejected).toMatchObject({ _tag: "HttpRejected", status: 403 })
      expect((rejected as HttpFailures.HttpRejected).excerpt).toContain("secondary rate limit")
      expect((yield* emulator.stats).responses[403]).toBe(1)

      const reading = yield* ResilientClient.make({
        service: "github",
        policy: { retry: { maxAttempts: 2, base: "1 millis", jitter: "none", maxRetryAfter: "1 millis" } },
        classify: {
          classify: (response, excerpt) =>
            response.status === 403 && /\bsecondary rate limit\b/i.test(excerpt)
              ? Option.some(
                new Errors.RateLimited({ service: "github", status: 403, retryAfter: Duration.seconds(60) })
              )
              : undefined
        }
      })
      const error = yield* Effect.flip(reading.execute(comment()))
      expect(error).toMatchObject({
        _tag: "RetriesExhausted",
        reason: "retry-after-beyond-cap",
        lastError: { _tag: "RateLimited", status: 403, retryAfter: Duration.seconds(60) }
      })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("401, 404 and 422 are not retried: HttpRejected with status and body excerpt", () =>
    Effect.gen(function*() {
      const { client, comment, emulator } = yield* setup({ repos: [{ owner: "octo-org", name: "hello" }] })
      yield* emulator.resetStats
      const cases: Array<[HttpClientRequest.HttpClientRequest, number, string]> = [
        [HttpClientRequest.setHeader(comment(), "authorization", "token ghs_nope"), 401, "Bad credentials"],
        [comment(undefined, "missing"), 404, "Not Found"],
        [comment({}), 422, "missing_field"]
      ]
      for (const [request, status, text] of cases) {
        const error = yield* Effect.flip(client.execute(request))
        expect(error).toBeInstanceOf(HttpFailures.HttpRejected)
        expect(error).toMatchObject({ status, service: "github" })
        expect((error as HttpFailures.HttpRejected).excerpt).toContain(text)
        expect((error as HttpFailures.HttpRejected).headers["x-github-request-id"]).toBeDefined()
      }
      expect((yield* emulator.stats).requests).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.scoped("a comment POST is not retried after a reset without a key, and is with an idempotency key", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(epochMillis)
      // the token is minted before the window opens: a reset POST would not be retried
      const { client, comment, emulator } = yield* setup({ faults: "reset@300ms-700ms" }, {
        retry: { maxAttempts: 3, base: "450 millis", jitter: "none" }
      })
      yield* TestClock.adjust("320 millis")
      const error = yield* Effect.flip(client.execute(comment()))
      expect(error).toBeInstanceOf(Errors.ConnectionFailed)
      expect((yield* emulator.comments).length).toBe(0)
      expect((yield* emulator.stats).faults).toEqual({ reset: 1 })
      const keyed = yield* Effect.fork(client.execute(comment(), { idempotencyKey: "comment-1" }))
      // reset at 320 ms, retried at 770 ms, past the window
      yield* elapse(450)
      expect((yield* Fiber.join(keyed)).status).toBe(201)
      expect((yield* emulator.stats).faults.reset).toBe(2)
      expect((yield* emulator.comments).length).toBe(1)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("timeline faults: a 503 window's retry-after, an injected secondary 429, latency past the attempt timeout", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(epochMillis)
      const client = yield* ResilientClient.make({
        service: "github",
        policy: { ...fast, retry: { ...fast.retry, maxAttempts: 4 }, attemptTimeout: "100 millis" }
      })
      const down = yield* GitHubEmulator.make({ faults: "status=503@0s-300ms" })
      const outage = yield* Effect.fork(client.execute(HttpClientRequest.get(`${down.url}/rate_limit`)))
      // retry-after: 1 (the window's 300 ms in whole seconds), not the 1 ms backoff
      yield* elapse(1000)
      expect((yield* Fiber.join(outage)).status).toBe(200)
      expect((yield* down.stats).responses).toEqual({ 200: 1, 503: 1 })

      const limited = yield* GitHubEmulator.make({ faults: "status=429" })
      const secondary = yield* Effect.flip(
        client.classified.execute(HttpClientRequest.get(`${limited.url}/rate_limit`))
      )
      expect(secondary).toMatchObject({ _tag: "RateLimited", status: 429, retryAfter: Duration.seconds(60) })

      const slow = yield* GitHubEmulator.make({ faults: "latency=300ms@0s-150ms" })
      const response = yield* Effect.fork(client.execute(HttpClientRequest.get(`${slow.url}/rate_limit`)))
      // two attempts delayed past the 100 ms timeout (at 0 and 101 ms), 1 ms and 2 ms apart; the third is past
      // the window. Each timeout only once the emulator has read the request, which it would not count otherwise.
      for (const [count, backoff] of [[1, 1], [2, 2]]) {
        yield* pollUntil(slow.stats, (stats) => stats.faults.latency === count)
        yield* TestClock.adjust("100 millis")
        yield* elapse(backoff!)
      }
      expect((yield* Fiber.join(response)).status).toBe(200)
      expect((yield* slow.stats).faults).toEqual({ latency: 2 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.live("wrong-content-type and truncated-json pass as 2xx: decoding them is the caller's failure", () =>
    Effect.gen(function*() {
      const client = yield* ResilientClient.make({ service: "github", policy: fast })
      const html = yield* GitHubEmulator.make({ faults: "wrong-content-type" })
      const page = yield* client.execute(HttpClientRequest.get(`${html.url}/rate_limit`))
      expect(page.headers["content-type"]).toContain("text/html")
      const cut = yield* GitHubEmulator.make({ faults: "truncated-json" })
      const truncated = yield* client.execute(HttpClientRequest.get(`${cut.url}/rate_limit`))
      expect((yield* Effect.either(truncated.json))._tag).toBe("Left")
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})
