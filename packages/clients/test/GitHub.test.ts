import * as GitHubEmulator from "@bulwark/emulators/GitHubEmulator"
import { FetchHttpClient, HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Duration as D } from "effect"
import { Clock, ConfigProvider, Duration, Effect, Layer, Logger, Redacted } from "effect"
import * as GitHub from "../src/GitHub.js"
import * as GitHubAppToken from "../src/GitHubAppToken.js"
import { eventually } from "./utils/clock.js"
import * as FaultWindow from "./utils/faultWindow.js"
import { app, other } from "./utils/keys.js"

/**
 * Real sockets and real sleeps: tiny backoff, so only server hints make a test wait; an attempt timeout no
 * healthy answer reaches on a loaded machine (a retried attempt would change the request counts).
 */
const fast = {
  retry: {
    maxAttempts: 3,
    base: "1 millis",
    maxDelay: "5 millis",
    jitter: "none",
    retryAfter: "floor",
    rateLimitedAttempts: "free",
    maxRetryAfter: "2 hours"
  },
  attemptTimeout: "3 seconds",
  totalTimeout: "5 seconds",
  circuitBreaker: false,
  retryAfterGate: false
} as const

const setup = (emulatorOptions: GitHubEmulator.Options = {}, options: GitHub.Options = {}, clock = Clock.make()) =>
  Effect.gen(function*() {
    const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey, ...emulatorOptions }).pipe(
      Effect.withClock(clock)
    )
    const tokens = yield* GitHubAppToken.make({
      appId: 42,
      privateKey: Redacted.make(app.privateKey),
      installationId: 1,
      apiUrl: emulator.url,
      policy: fast
    })
    const github = yield* GitHub.make({ apiUrl: emulator.url, policy: fast, ...options }).pipe(
      Effect.provideService(GitHubAppToken.GitHubAppToken, tokens)
    )
    return { emulator, tokens, github }
  })

const comment = { owner: "octo-org", repo: "hello", issue_number: 1, body: "Me too" } as const

const timed = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const result = yield* Effect.either(self)
    return { result, elapsed: (yield* Clock.currentTimeMillis) - start }
  })

const live = <A, E>(name: string, self: () => Effect.Effect<A, E, any>) =>
  it.live(name, () => self().pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)) as Effect.Effect<A, E>)

describe("GitHub against the GitHub emulator", () => {
  live("no faults: token exchange, then the comment; GitHub's headers are sent", () =>
    Effect.gen(function*() {
      const seen: Array<HttpClientRequest.HttpClientRequest> = []
      const { emulator, github } = yield* setup({}, {
        transformClient: HttpClient.tapRequest((request) => Effect.sync(() => seen.push(request)))
      })
      const created = yield* github.createComment(comment, { task: "triage", clientJobId: "job-1" })
      expect(created).toMatchObject({ body: "Me too", user: { login: "bulwark-emulator[bot]", type: "Bot" } })
      expect(created.html_url).toMatch(/^https:\/\/github\.com\/octo-org\/hello\/issues\/1#issuecomment-\d+$/)
      expect(yield* emulator.comments).toMatchObject([{ owner: "octo-org", repo: "hello", issue: 1, body: "Me too" }])
      expect((yield* emulator.stats).responses).toEqual({ 201: 2 })
      expect(seen).toHaveLength(1)
      expect(seen[0]!.url).toBe(`${emulator.url}/repos/octo-org/hello/issues/1/comments`)
      expect(seen[0]!.headers).toMatchObject({
        accept: "application/vnd.github+json",
        "x-github-api-version": "2022-11-28",
        "user-agent": "bulwark"
      })
      expect(seen[0]!.headers.authorization).toMatch(/^Bearer ghs_/)
      // a second call reuses the cached token
      yield* github.createComment({ ...comment, body: "Again" })
      expect((yield* emulator.stats).responses).toEqual({ 201: 3 })
    }))

  live("a request that does not match its Schemas is refused before sending", () =>
    Effect.gen(function*() {
      const { emulator, github } = yield* setup()
      const cases = [
        [{ ...comment, body: "" }, "body.body", "\"\""],
        [{ ...comment, issue_number: 0 }, "params.issue_number", "0"],
        [{ ...comment, owner: "-x" }, "params.owner", "\"-x\""]
      ] as const
      for (const [bad, field, value] of cases) {
        const error = yield* Effect.flip(github.createComment(bad))
        expect(error).toMatchObject({
          _tag: "InvalidInput",
          service: "github",
          operation: "issues/create-comment",
          field,
          value
        })
      }
      expect((yield* emulator.stats).requests).toBe(0)
    }))

  live("404, 410 and 422 are HttpRejected and not retried", () =>
    Effect.gen(function*() {
      const { emulator, github } = yield* setup({
        repos: [{ owner: "octo-org", name: "hello", issues: 3 }, { owner: "octo-org", name: "off", hasIssues: false }]
      })
      yield* github.createComment(comment)
      yield* emulator.resetStats
      expect(yield* Effect.flip(github.createComment({ ...comment, issue_number: 9 }))).toMatchObject({
        _tag: "HttpRejected",
        status: 404
      })
      expect(yield* Effect.flip(github.createComment({ ...comment, repo: "off" }))).toMatchObject({
        _tag: "HttpRejected",
        status: 410
      })
      expect((yield* emulator.stats).requests).toBe(2)
    }))

  live("a 401 drops the cached token; the call is made once more with a fresh one", () =>
    Effect.gen(function*() {
      let spoil = true
      const { emulator, github } = yield* setup({}, {
        transformClient: HttpClient.mapRequest((request) => {
          if (!spoil) return request
          spoil = false
          return HttpClientRequest.bearerToken(request, "ghs_revoked")
        })
      })
      const created = yield* github.createComment(comment)
      expect(created.body).toBe("Me too")
      expect((yield* emulator.stats).responses).toEqual({ 201: 3, 401: 1 })
    }))

  live("primary limit: waits until x-ratelimit-reset without spending an attempt", () =>
    Effect.gen(function*() {
      // the emulator's clock stands still until the 403 is answered, then leaves the window: the second
      // comment meets the limit however slow the machine; the client waits for the reset by its own clock
      const window = FaultWindow.make()
      const resets: Array<number> = []
      const { emulator, github } = yield* setup({ primary: { limit: 1, window: "700 millis" } }, {
        policy: { ...fast, retry: { ...fast.retry, maxAttempts: 1 } },
        transformClient: (http) =>
          window.skipAfter(2, "2 seconds")(HttpClient.tap(http, (response: HttpClientResponse.HttpClientResponse) =>
            Effect.sync(() => {
              if (response.status === 403) resets.push(Number(response.headers["x-ratelimit-reset"]) * 1000)
            })))
      }, window.clock)
      yield* github.createComment(comment)
      const { result } = yield* timed(github.createComment(comment))
      const done = yield* Clock.currentTimeMillis
      expect(result._tag).toBe("Right")
      // one refusal, then the retry at the reset (an earlier one would have met a second 403)
      expect(resets).toHaveLength(1)
      expect(done).toBeGreaterThanOrEqual(resets[0]!)
      // and not much later: the retry follows the reset
      expect(done - resets[0]!).toBeLessThan(2000)
      expect((yield* emulator.stats).responses).toEqual({ 201: 3, 403: 1 })
    }))

  live(
    "primary limit: a reset past the total deadline gives up at once, naming the wait",
    () =>
      Effect.gen(function*() {
        const { emulator, github } = yield* setup({ primary: { limit: 1, status: 429 } })
        yield* github.createComment(comment)
        const { elapsed, result } = yield* timed(github.createComment(comment))
        // at once: not after sleeping until the 5 s deadline
        expect(elapsed).toBeLessThan(2000)
        const error = result._tag === "Left" ? result.left : undefined
        expect(error).toMatchObject({
          _tag: "RetriesExhausted",
          reason: "retry-after-beyond-deadline",
          attempts: 1,
          lastError: { _tag: "RateLimited", status: 429 }
        })
        expect(Duration.toMinutes((error as { retryAfter: Duration.Duration }).retryAfter)).toBeGreaterThan(59)
        expect(String((error as Error).message)).toMatch(/retry after (59m|1h)/)
        expect((yield* emulator.comments).length).toBe(1)
      })
  )

  live(
    "secondary limit with retry-after: waits what it says, then the comment is created",
    () =>
      Effect.gen(function*() {
        // the emulator's clock stands still until the 403 is answered, then leaves the window: the second
        // comment meets the limit however slow the machine
        const window = FaultWindow.make()
        const { emulator, github } = yield* setup(
          { secondary: { content: [{ limit: 1, window: "1 second" }] } },
          { transformClient: window.skipAfter(2, "2 seconds") },
          window.clock
        )
        yield* github.createComment(comment)
        const { elapsed, result } = yield* timed(github.createComment(comment))
        expect(result._tag).toBe("Right")
        expect(elapsed).toBeGreaterThanOrEqual(950)
        expect((yield* emulator.stats).responses).toEqual({ 201: 3, 403: 1 })
      })
  )

  for (const status of [403, 429] as const) {
    live(
      `secondary limit (${status}) without retry-after: a 60 s floor; a 5 s deadline gives up at once`,
      () =>
        Effect.gen(function*() {
          const { emulator, github } = yield* setup({
            secondary: { content: [{ limit: 1, window: "1 minute" }], retryAfter: false, status }
          })
          yield* github.createComment(comment)
          const { elapsed, result } = yield* timed(github.createComment(comment))
          // at once: not after sleeping until the 5 s deadline
          expect(elapsed).toBeLessThan(2000)
          expect(result._tag === "Left" ? result.left : undefined).toMatchObject({
            _tag: "RetriesExhausted",
            reason: "retry-after-beyond-deadline",
            attempts: 1,
            retryAfter: D.minutes(1),
            lastError: { _tag: "RateLimited", status, retryAfter: D.minutes(1) }
          })
          expect(result._tag === "Left" ? result.left.message : "").toContain("retry after 1m")
          expect((yield* emulator.stats).responses).toEqual({ 201: 2, [status]: 1 })
        })
    )
  }

  /**
   * Mints the token first, then moves the emulator's clock one minute on, into
   * the fault window `@1m-`: the exchange is never faulted, however slow the machine.
   */
  const faulted = (fault: string, options: GitHub.Options = {}) =>
    Effect.gen(function*() {
      const window = FaultWindow.make()
      const context = yield* setup({ faults: `${fault}@1m-` }, options, window.clock)
      yield* context.tokens.get
      expect((yield* context.emulator.stats).responses).toEqual({ 201: 1 })
      yield* window.skip("1 minute")
      yield* context.emulator.resetStats
      return context
    })

  /** The emulator's request count, once it has read every request sent (an abandoned one can be read late). */
  const requestsReach = (emulator: GitHubEmulator.Service, count: number) =>
    eventually(Effect.map(emulator.stats, (stats) => stats.requests >= count), `${count} requests`).pipe(
      Effect.zipRight(Effect.map(emulator.stats, (stats) => stats.requests))
    )

  live(
    "a 500 on the comment POST is not retried without an idempotency key, and is with one",
    () =>
      Effect.gen(function*() {
        const { emulator, github } = yield* faulted("status=500")
        expect(yield* Effect.flip(github.createComment(comment))).toMatchObject({ _tag: "ServerError", status: 500 })
        expect((yield* emulator.stats).requests).toBe(1)
        const keyed = yield* Effect.flip(github.createComment(comment, { idempotencyKey: "comment-1" }))
        expect(keyed).toMatchObject({ _tag: "RetriesExhausted", attempts: 3, lastError: { _tag: "ServerError" } })
        expect((yield* emulator.stats).requests).toBe(4)
      })
  )

  live("a 503 on the comment POST is retried: GitHub did nothing", () =>
    Effect.gen(function*() {
      const { emulator, github } = yield* faulted("status=503")
      expect(yield* Effect.flip(github.createComment(comment))).toMatchObject({
        _tag: "RetriesExhausted",
        attempts: 3,
        lastError: { _tag: "Unavailable" }
      })
      expect((yield* emulator.stats).requests).toBe(3)
    }).pipe(Effect.provide(Layer.empty)))

  live("a reset or an attempt timeout on the comment POST is not retried without a key", () =>
    Effect.gen(function*() {
      const reset = yield* faulted("reset")
      expect(yield* Effect.flip(reset.github.createComment(comment))).toMatchObject({ _tag: "ConnectionFailed" })
      expect((yield* reset.emulator.stats).requests).toBe(1)
      const slow = yield* faulted("latency=1s")
      const error = yield* Effect.flip(slow.github.createComment(comment, { timeout: "250 millis" }))
      expect(error).toMatchObject({ _tag: "AttemptTimedOut" })
      expect((yield* slow.emulator.comments).length).toBeLessThanOrEqual(1)
    }))

  live(
    "a body that stalls past the attempt timeout is an AttemptTimedOut inside the attempt",
    () =>
      Effect.gen(function*() {
        // attempt timeouts long enough for a request to reach the emulator on a loaded machine
        const { emulator, github } = yield* faulted("slow-body=5s", {
          policy: { ...fast, retry: { ...fast.retry, maxAttempts: 2 } }
        })
        const plain = yield* timed(github.createComment(comment, { timeout: "500 millis" }))
        expect(plain.result._tag === "Left" ? plain.result.left : undefined).toMatchObject({ _tag: "AttemptTimedOut" })
        // bounded by the attempt timeout, not by the 5 s body
        expect(plain.elapsed).toBeLessThan(2500)
        expect(yield* requestsReach(emulator, 1)).toBe(1)
        // with a key the stalled attempts are retried, each bounded by the attempt timeout
        const keyed = yield* timed(github.createComment(comment, { timeout: "500 millis", idempotencyKey: "c-1" }))
        expect(keyed.result._tag === "Left" ? keyed.result.left : undefined).toMatchObject({
          _tag: "RetriesExhausted",
          attempts: 2,
          lastError: { _tag: "AttemptTimedOut" }
        })
        expect(keyed.elapsed).toBeLessThan(4000)
        expect(yield* requestsReach(emulator, 3)).toBe(3)
      })
  )

  live("a refused app JWT fails the call after exactly one token exchange", () =>
    Effect.gen(function*() {
      const { emulator, github } = yield* setup({ publicKey: other.publicKey })
      expect(yield* Effect.flip(github.createComment(comment))).toMatchObject({
        _tag: "AuthenticationFailed",
        status: 401,
        credential: "app-jwt"
      })
      expect((yield* emulator.stats).requests).toBe(1)
      expect((yield* emulator.stats).responses).toEqual({ 401: 1 })
    }))

  live("wrong content type and truncated JSON are MalformedResponse naming the endpoint", () =>
    Effect.gen(function*() {
      for (const fault of ["wrong-content-type", "truncated-json"]) {
        const { github } = yield* faulted(fault)
        expect(yield* Effect.flip(github.createComment(comment))).toMatchObject({
          _tag: "MalformedResponse",
          service: "github",
          endpoint: "POST /repos/{owner}/{repo}/issues/{issue_number}/comments"
        })
      }
    }))

  live("the token, the JWT and the private key never reach a log line or an error", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make(({ annotations, message }) => {
        lines.push(JSON.stringify([message, Object.fromEntries(annotations)]))
      })
      const errors: Array<unknown> = []
      // the token is minted at emulator time 0; the comment meets the 503 (retry-after: 1) once the clock
      // moves into the window, and its retry finds the window over
      const window = FaultWindow.make()
      const { emulator, github, tokens } = yield* setup(
        { faults: "status=503@60s-61s" },
        { transformClient: window.skipAfter(1, "1 second") },
        window.clock
      )
      const token = Redacted.value(yield* tokens.token)
      yield* window.skip("1 minute")
      yield* Effect.gen(function*() {
        errors.push(
          yield* Effect.flip(github.createComment(comment, { timeout: "1 second" })).pipe(
            Effect.orElseSucceed(() => "succeeded")
          )
        )
        errors.push(yield* Effect.flip(github.createComment({ ...comment, repo: "." })))
        const bad = yield* GitHubAppToken.make({
          appId: 43,
          privateKey: Redacted.make(app.privateKey),
          installationId: 1,
          apiUrl: emulator.url,
          policy: fast
        })
        errors.push(yield* Effect.flip(bad.get))
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)), Effect.withLogSpan("test"))
      // the 503 was met and retried: its warning is among the lines
      expect((yield* emulator.stats).faults["status-503"]).toBe(1)
      expect(lines.length).toBeGreaterThan(0)
      const keyBody = app.privateKey.split("\n")[1]!
      for (const text of [...lines, ...errors.map((e) => `${String(e)} ${JSON.stringify(e)}`)]) {
        expect(text).not.toContain(token)
        expect(text).not.toContain(keyBody)
        expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/)
      }
    }))
})

describe("GitHub.optionsConfig", () => {
  const valid = {
    GITHUB_API_URL: "http://127.0.0.1:9/",
    GITHUB_USER_AGENT: "issue-runner/1.0",
    GITHUB_RETRY_MAX_ATTEMPTS: "2",
    GITHUB_RETRY_BASE_DELAY: "10 millis",
    GITHUB_RETRY_MAX_DELAY: "1 second",
    GITHUB_TIMEOUT: "2 seconds",
    GITHUB_TOTAL_TIMEOUT: "20 seconds",
    GITHUB_BREAKER_FAILURE_THRESHOLD: "3",
    GITHUB_BREAKER_OPEN_DURATION: "5 seconds"
  }
  const read = (env: Record<string, string>) =>
    GitHub.optionsConfig().pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))
    )

  it.effect("every variable read when valid", () =>
    Effect.gen(function*() {
      expect(yield* read(valid)).toMatchObject({
        apiUrl: "http://127.0.0.1:9",
        userAgent: "issue-runner/1.0",
        policy: {
          retry: { maxAttempts: 2, base: D.millis(10), maxDelay: D.seconds(1), rateLimitedAttempts: "free" },
          attemptTimeout: D.seconds(2),
          totalTimeout: D.seconds(20),
          circuitBreaker: { openDuration: D.seconds(5) }
        }
      })
    }))

  const invalidValues: Record<string, string> = {
    GITHUB_API_URL: "github.com",
    GITHUB_USER_AGENT: "bad\nagent",
    GITHUB_RETRY_MAX_ATTEMPTS: "0",
    GITHUB_RETRY_BASE_DELAY: "soon",
    GITHUB_RETRY_MAX_DELAY: "-1 seconds",
    GITHUB_TIMEOUT: "forever",
    GITHUB_TOTAL_TIMEOUT: "1 eon",
    GITHUB_BREAKER_FAILURE_THRESHOLD: "many",
    GITHUB_BREAKER_OPEN_DURATION: "a while"
  }
  for (const [name, value] of Object.entries(invalidValues)) {
    it.effect(`an invalid ${name} is a ConfigError naming it`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(read({ ...valid, [name]: value }))
        expect(String(error).replaceAll(".", "_")).toContain(name)
      }))
  }
})
