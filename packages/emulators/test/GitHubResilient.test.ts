import { Errors, Retry } from "@bulwark/core"
import * as HttpFailures from "@bulwark/http/HttpFailures"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Option } from "effect"
import * as GitHubEmulator from "../src/GitHubEmulator.js"
import { appJwt, keyPair } from "./utils/githubJwt.js"

const app = keyPair()

/** Three attempts, 1 ms apart: the tests sleep for real, so only server hints make them wait. */
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

const elapsedOf = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const result = yield* Effect.either(self)
    return { result, elapsed: (yield* Clock.currentTimeMillis) - start }
  })

describe("GitHubEmulator with ResilientClient", () => {
  it.live("a secondary limit's retry-after is honoured, then the comment is created", () =>
    Effect.gen(function*() {
      const { client, comment, emulator } = yield* setup({ secondary: { content: [{ limit: 1, window: "1 second" }] } })
      yield* client.execute(comment())
      const { elapsed, result } = yield* elapsedOf(client.execute(comment()))
      expect(result._tag).toBe("Right")
      // retry-after: 1 (whole seconds); the backoff alone would have waited 1 ms
      expect(elapsed).toBeGreaterThanOrEqual(950)
      expect((yield* emulator.comments).length).toBe(2)
      expect((yield* emulator.stats).responses).toMatchObject({ 201: 3, 403: 1 })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a 403 with x-ratelimit-remaining 0 is RateLimited, its x-ratelimit-reset the hint", () =>
    Effect.gen(function*() {
      const { client, comment, emulator } = yield* setup({ primary: { limit: 1, window: "100 millis" } })
      yield* client.execute(comment())
      const refused = yield* Effect.flip(client.classified.execute(comment()))
      expect(refused).toBeInstanceOf(Errors.RateLimited)
      expect(refused).toMatchObject({ status: 403, service: "github" })
      const hint = Duration.toMillis((refused as Errors.RateLimited).retryAfter!)
      expect(hint).toBeGreaterThan(0)
      expect(hint).toBeLessThanOrEqual(1000)
      // the policy waits for the reset (the 1 ms backoff would not do), then the window has room again
      const { elapsed, result } = yield* elapsedOf(client.execute(comment()))
      expect(result._tag).toBe("Right")
      expect(elapsed).toBeGreaterThanOrEqual(hint - 50)
      expect((yield* emulator.stats).responses).toMatchObject({ 201: 3, 403: 2 })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

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

  it.live("a comment POST is not retried after a reset without a key, and is with an idempotency key", () =>
    Effect.gen(function*() {
      const { client, comment, emulator } = yield* setup({ faults: "reset@300ms-700ms" }, {
        retry: { maxAttempts: 3, base: "450 millis", jitter: "none" }
      })
      yield* Effect.sleep("320 millis")
      const error = yield* Effect.flip(client.execute(comment()))
      expect(error).toBeInstanceOf(Errors.ConnectionFailed)
      expect((yield* emulator.comments).length).toBe(0)
      expect((yield* emulator.stats).faults).toEqual({ reset: 1 })
      const response = yield* client.execute(comment(), { idempotencyKey: "comment-1" })
      expect(response.status).toBe(201)
      expect((yield* emulator.stats).faults.reset).toBe(2)
      expect((yield* emulator.comments).length).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("timeline faults: a 503 window's retry-after, an injected secondary 429, latency past the attempt timeout", () =>
    Effect.gen(function*() {
      const client = yield* ResilientClient.make({
        service: "github",
        policy: { ...fast, retry: { ...fast.retry, maxAttempts: 4 }, attemptTimeout: "100 millis" }
      })
      const down = yield* GitHubEmulator.make({ faults: "status=503@0s-300ms" })
      const outage = yield* elapsedOf(client.execute(HttpClientRequest.get(`${down.url}/rate_limit`)))
      expect(outage.result._tag).toBe("Right")
      expect(outage.elapsed).toBeGreaterThanOrEqual(950)

      const limited = yield* GitHubEmulator.make({ faults: "status=429" })
      const secondary = yield* Effect.flip(
        client.classified.execute(HttpClientRequest.get(`${limited.url}/rate_limit`))
      )
      expect(secondary).toMatchObject({ _tag: "RateLimited", status: 429, retryAfter: Duration.seconds(60) })

      const slow = yield* GitHubEmulator.make({ faults: "latency=300ms@0s-250ms" })
      const response = yield* client.execute(HttpClientRequest.get(`${slow.url}/rate_limit`))
      expect(response.status).toBe(200)
      expect((yield* slow.stats).faults.latency).toBeGreaterThanOrEqual(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

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
