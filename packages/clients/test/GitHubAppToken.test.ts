import * as GitHubEmulator from "@bulwark/emulators/GitHubEmulator"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import {
  ConfigProvider,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Redacted,
  Ref,
  TestClock,
  TestServices
} from "effect"
import * as GitHubAppToken from "../src/GitHubAppToken.js"
import { claims } from "../src/internal/githubJwt.js"
import * as TokenCache from "../src/internal/githubTokenCache.js"
import * as FaultWindow from "./utils/faultWindow.js"
import { app, other } from "./utils/keys.js"

/** Tiny backoff; an attempt timeout no healthy answer reaches on a loaded machine. */
const fast = {
  retry: { maxAttempts: 3, base: "1 millis", maxDelay: "5 millis", jitter: "none", retryAfter: "floor" },
  attemptTimeout: "3 seconds",
  totalTimeout: "5 seconds",
  circuitBreaker: false
} as const

/** Polls `self` (real time between polls, the test's Clock untouched) until `done`, for at most 2 s. */
const eventually = <A, E, R>(self: Effect.Effect<A, E, R>, done: (a: A) => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      const value = yield* self
      if (done(value)) return value
      yield* TestServices.provideLive(Effect.sleep("10 millis"))
    }
    return yield* Effect.die("eventually: the condition never held")
  })

const provider = (emulator: { readonly url: string }, options: Partial<GitHubAppToken.Options> = {}) =>
  GitHubAppToken.make({
    appId: 42,
    privateKey: Redacted.make(app.privateKey),
    installationId: 1,
    apiUrl: emulator.url,
    policy: fast,
    ...options
  })

describe("GitHubAppToken against the GitHub emulator", () => {
  // TestClock drives both the cache and the emulator's token expiry: they share the test's Clock.
  it.scoped("mints once, serves from the cache, refreshes before expires_at", () =>
    Effect.gen(function*() {
      const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey })
      const tokens = yield* provider(emulator)
      const first = yield* tokens.get
      expect(Redacted.value(first.token)).toMatch(/^ghs_/)
      expect(first.expiresAt).toBe(Duration.toMillis("1 hour"))
      expect(first.refreshAt).toBe(Duration.toMillis("55 minutes"))
      yield* TestClock.adjust("54 minutes")
      expect(Redacted.value((yield* tokens.get).token)).toBe(Redacted.value(first.token))
      expect((yield* emulator.stats).responses).toEqual({ 201: 1 })
      yield* TestClock.adjust("1 minute")
      // at the refresh moment the old token is still served at once; the next is minted in the background
      expect(Redacted.value((yield* tokens.get).token)).toBe(Redacted.value(first.token))
      const second = yield* eventually(tokens.get, (token) => token.token !== first.token)
      expect(Redacted.value(second.token)).not.toBe(Redacted.value(first.token))
      expect(second.expiresAt).toBe(Duration.toMillis("115 minutes"))
      expect((yield* emulator.stats).responses).toEqual({ 201: 2 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("a short-lived token is replaced at half its life", () =>
    Effect.gen(function*() {
      const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey, tokenLifetime: "2 minutes" })
      const tokens = yield* provider(emulator)
      expect((yield* tokens.get).refreshAt).toBe(Duration.toMillis("1 minute"))
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.live("20 concurrent callers cause one token request", () =>
    Effect.gen(function*() {
      const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey, serviceTime: "50ms" })
      const tokens = yield* provider(emulator)
      const all = yield* Effect.all(Array.from({ length: 20 }, () => tokens.token), { concurrency: "unbounded" })
      expect(new Set(all.map(Redacted.value)).size).toBe(1)
      const stats = yield* emulator.stats
      expect(stats.requests).toBe(1)
      expect(stats.responses).toEqual({ 201: 1 })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a refused JWT is AuthenticationFailed with GitHub's reason, not retried", () =>
    Effect.gen(function*() {
      const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: other.publicKey })
      const tokens = yield* provider(emulator)
      const error = yield* Effect.flip(tokens.get)
      expect(error).toMatchObject({
        _tag: "AuthenticationFailed",
        status: 401,
        credential: "app-jwt",
        endpoint: "POST /app/installations/1/access_tokens",
        detail: "A JSON web token could not be decoded"
      })
      expect((yield* emulator.stats).requests).toBe(1)
      // a failure is not cached: the next caller tries again
      yield* Effect.flip(tokens.get)
      expect((yield* emulator.stats).requests).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a wrong app id is refused as Integration not found", () =>
    Effect.gen(function*() {
      const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey })
      const tokens = yield* provider(emulator, { appId: 7 })
      expect(yield* Effect.flip(tokens.get)).toMatchObject({
        _tag: "AuthenticationFailed",
        detail: "Integration not found"
      })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("503 then healthy: the exchange is retried after the server's retry-after", () =>
    Effect.gen(function*() {
      // the emulator's clock stands still until the first exchange has its 503 (retry-after: 1), then leaves the window
      const window = FaultWindow.make()
      const emulator = yield* GitHubEmulator.make({
        appId: 42,
        publicKey: app.publicKey,
        faults: "status=503@0ms-300ms"
      }).pipe(Effect.withClock(window.clock))
      const tokens = yield* provider(emulator, { transformClient: window.skipAfter(1, "1 second") })
      yield* tokens.get
      expect((yield* emulator.stats).responses).toEqual({ 201: 1, 503: 1 })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("500s and resets are retried (minting twice is harmless) until the attempts run out", () =>
    Effect.gen(function*() {
      const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey, faults: "status=500" })
      const tokens = yield* provider(emulator)
      const error = yield* Effect.flip(tokens.get)
      expect(error).toMatchObject({ _tag: "RetriesExhausted", attempts: 3, lastError: { _tag: "ServerError" } })
      const reset = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey, faults: "reset" })
      const again = yield* Effect.flip((yield* provider(reset)).get)
      expect(again).toMatchObject({ _tag: "RetriesExhausted", attempts: 3, lastError: { _tag: "ConnectionFailed" } })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a malformed answer is MalformedResponse whose excerpt hides the token", () =>
    Effect.gen(function*() {
      const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey, faults: "truncated-json" })
      const error = yield* Effect.flip((yield* provider(emulator)).get)
      expect(error).toMatchObject({
        _tag: "MalformedResponse",
        service: "github-app-token",
        endpoint: "POST /app/installations/{installation_id}/access_tokens",
        status: 201
      })
      expect(JSON.stringify(error)).not.toMatch(/ghs_/)
      expect((error as { excerpt: string }).excerpt).toContain("<redacted>")
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a body that stalls past the attempt timeout is an AttemptTimedOut, retried", () =>
    Effect.gen(function*() {
      const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey, faults: "slow-body=5s" })
      // an attempt timeout long enough for a request to reach the emulator on a loaded machine
      const tokens = yield* provider(emulator, {
        policy: { ...fast, retry: { ...fast.retry, maxAttempts: 2 }, attemptTimeout: "500 millis" }
      })
      const started = Date.now()
      const error = yield* Effect.flip(tokens.get)
      expect(error).toMatchObject({ _tag: "RetriesExhausted", attempts: 2, lastError: { _tag: "AttemptTimedOut" } })
      // two attempts of 500 ms, not a body of 5 s
      expect(Date.now() - started).toBeLessThan(4000)
      // every attempt reached the emulator (after a stall it may read an abandoned request late)
      expect((yield* eventually(emulator.stats, (stats) => stats.requests >= 2)).requests).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it("the JWT's claims: iat 60 s in the past, exp ten minutes after it", () => {
    expect(claims("42", 1_000_000_500)).toEqual({ iat: 999_940, exp: 1_000_540, iss: 42 })
    expect(claims("Iv1.abc", 0).iss).toBe("Iv1.abc")
  })

  it.effect("invalid options fail with InvalidPolicy naming the option, never quoting the key", () =>
    Effect.gen(function*() {
      const base = { appId: 42, privateKey: Redacted.make(app.privateKey), installationId: 1 }
      const cases: Array<[Partial<GitHubAppToken.Options>, string]> = [
        [{ appId: "forty-two" }, "appId"],
        [{ installationId: 0 }, "installationId"],
        [
          { privateKey: Redacted.make("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----") },
          "privateKey"
        ],
        [{ apiUrl: "ftp://example" }, "apiUrl"],
        [{ refreshBefore: "soon" as Duration.DurationInput }, "refreshBefore"],
        [{ refreshRetryDelay: "later" as Duration.DurationInput }, "refreshRetryDelay"]
      ]
      for (const [options, field] of cases) {
        const exit = yield* Effect.exit(GitHubAppToken.make({ ...base, ...options }).pipe(Effect.scoped))
        expect(exit).toMatchObject({ _tag: "Failure", cause: { error: { _tag: "InvalidPolicy", field } } })
        expect(JSON.stringify(exit)).not.toContain("not a key")
      }
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})

describe("GitHubAppToken.layerConfig", () => {
  const valid = {
    GITHUB_APP_ID: "42",
    GITHUB_PRIVATE_KEY: app.privateKey,
    GITHUB_INSTALLATION_ID: "7",
    GITHUB_API_URL: "http://127.0.0.1:9/api/v3/",
    GITHUB_APP_TOKEN_REFRESH_BEFORE: "2 minutes",
    GITHUB_APP_TOKEN_RETRY_MAX_ATTEMPTS: "4",
    GITHUB_APP_TOKEN_RETRY_BASE_DELAY: "10 millis",
    GITHUB_APP_TOKEN_RETRY_MAX_DELAY: "1 second",
    GITHUB_APP_TOKEN_TIMEOUT: "2 seconds",
    GITHUB_APP_TOKEN_TOTAL_TIMEOUT: "20 seconds",
    GITHUB_APP_TOKEN_BREAKER_FAILURE_THRESHOLD: "3",
    GITHUB_APP_TOKEN_BREAKER_OPEN_DURATION: "5 seconds"
  }
  const read = (env: Record<string, string>) =>
    GitHubAppToken.optionsConfig().pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))
    )

  it.effect("every variable read when valid", () =>
    Effect.gen(function*() {
      const options = yield* read(valid)
      expect(options).toMatchObject({
        appId: "42",
        installationId: 7,
        apiUrl: "http://127.0.0.1:9/api/v3",
        refreshBefore: Duration.minutes(2),
        policy: {
          retry: { maxAttempts: 4, base: Duration.millis(10), maxDelay: Duration.seconds(1) },
          attemptTimeout: Duration.seconds(2),
          totalTimeout: Duration.seconds(20),
          circuitBreaker: { openDuration: Duration.seconds(5) }
        }
      })
      expect(Redacted.value(options.privateKey)).toBe(app.privateKey)
      // the layer builds from them
      const built = yield* Effect.exit(
        Layer.build(GitHubAppToken.layerConfig()).pipe(
          Effect.scoped,
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(valid)), { pathDelim: "_" }))
        )
      )
      expect(Exit.isSuccess(built)).toBe(true)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  const invalidValues: Record<string, string> = {
    GITHUB_APP_ID: "app",
    GITHUB_PRIVATE_KEY: "-----BEGIN RSA PRIVATE KEY-----\nsecretjunk\n-----END RSA PRIVATE KEY-----",
    GITHUB_INSTALLATION_ID: "0",
    GITHUB_API_URL: "not a url",
    GITHUB_APP_TOKEN_REFRESH_BEFORE: "-5 seconds",
    GITHUB_APP_TOKEN_RETRY_MAX_ATTEMPTS: "zero",
    GITHUB_APP_TOKEN_RETRY_BASE_DELAY: "fast",
    GITHUB_APP_TOKEN_RETRY_MAX_DELAY: "1 fortnight",
    GITHUB_APP_TOKEN_TIMEOUT: "never",
    GITHUB_APP_TOKEN_TOTAL_TIMEOUT: "-1 seconds",
    GITHUB_APP_TOKEN_BREAKER_FAILURE_THRESHOLD: "0",
    GITHUB_APP_TOKEN_BREAKER_OPEN_DURATION: "later"
  }
  for (const [name, value] of Object.entries(invalidValues)) {
    it.effect(`an invalid ${name} is a ConfigError naming it`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(read({ ...valid, [name]: value }))
        expect(String(error).replaceAll(".", "_")).toContain(name)
        expect(String(error)).not.toContain("secretjunk")
      }))
  }

  it.effect("values each valid but refused together are a ConfigError naming the variable set", () =>
    Effect.gen(function*() {
      const build = (env: Record<string, string>) =>
        Effect.flip(
          Layer.build(GitHubAppToken.layerConfig()).pipe(
            Effect.scoped,
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))
          )
        )
      const timeout = yield* build({ ...valid, GITHUB_APP_TOKEN_TIMEOUT: "1 minute" })
      expect(timeout._tag).toBe("ConfigError")
      expect(String(timeout)).toContain("GITHUB_APP_TOKEN_TIMEOUT")
      // the same refusal from options given in code, with no variable to blame, stays an InvalidPolicy
      const { GITHUB_APP_TOKEN_TIMEOUT: _t, GITHUB_APP_TOKEN_TOTAL_TIMEOUT: _tt, ...rest } = valid
      const coded = yield* Effect.flip(
        Layer.build(GitHubAppToken.layerConfig({ policy: { attemptTimeout: "1 minute", totalTimeout: "20 seconds" } }))
          .pipe(
            Effect.scoped,
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(rest)), { pathDelim: "_" }))
          )
      )
      expect(coded._tag).toBe("InvalidPolicy")
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.effect("the three identity variables are required", () =>
    Effect.gen(function*() {
      for (const name of ["GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_INSTALLATION_ID"]) {
        const { [name]: _, ...rest } = valid as Record<string, string>
        expect(String(yield* Effect.flip(read(rest))).replaceAll(".", "_")).toContain(name)
      }
    }))

  describe("the key under seed 001's name, GITHUB_APP_PRIVATE_KEY", () => {
    const { GITHUB_PRIVATE_KEY: _, ...withoutKey } = valid
    const otherKey = other.privateKey

    it.effect("read when GITHUB_PRIVATE_KEY is not set", () =>
      Effect.gen(function*() {
        const options = yield* read({ ...withoutKey, GITHUB_APP_PRIVATE_KEY: otherKey })
        expect(Redacted.value(options.privateKey)).toBe(otherKey)
      }))

    it.effect("GITHUB_PRIVATE_KEY wins when both are set", () =>
      Effect.gen(function*() {
        const options = yield* read({ ...valid, GITHUB_APP_PRIVATE_KEY: otherKey })
        expect(Redacted.value(options.privateKey)).toBe(app.privateKey)
      }))

    it.effect("an invalid GITHUB_APP_PRIVATE_KEY is a ConfigError naming it, never quoting it", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          read({ ...withoutKey, GITHUB_APP_PRIVATE_KEY: invalidValues.GITHUB_PRIVATE_KEY! })
        )
        expect(String(error).replaceAll(".", "_")).toContain("GITHUB_APP_PRIVATE_KEY")
        expect(String(error)).not.toContain("secretjunk")
      }))

    it.effect("an invalid GITHUB_PRIVATE_KEY does not fall back to a valid GITHUB_APP_PRIVATE_KEY", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(read({
          ...valid,
          GITHUB_PRIVATE_KEY: invalidValues.GITHUB_PRIVATE_KEY!,
          GITHUB_APP_PRIVATE_KEY: otherKey
        }))
        expect(String(error).replaceAll(".", "_")).toContain("GITHUB_PRIVATE_KEY")
      }))

    it.effect("neither set: the ConfigError names both", () =>
      Effect.gen(function*() {
        const message = String(yield* Effect.flip(read(withoutKey))).replaceAll(".", "_")
        expect(message).toContain("GITHUB_PRIVATE_KEY")
        expect(message).toContain("GITHUB_APP_PRIVATE_KEY")
      }))
  })
})

describe("the token cache", () => {
  const hour = Duration.toMillis("1 hour")
  const margin = Duration.toMillis("5 minutes")

  /** A fake exchange taking one second of the test's Clock; `fail` makes it fail. */
  const fake = Effect.gen(function*() {
    const calls = yield* Ref.make(0)
    const failing = yield* Ref.make(false)
    const exchange = Effect.gen(function*() {
      const n = yield* Ref.updateAndGet(calls, (c) => c + 1)
      yield* Effect.sleep("1 second")
      if (yield* Ref.get(failing)) return yield* Effect.fail(`exchange ${n} failed`)
      const now = yield* TestClock.currentTimeMillis
      return { token: Redacted.make(`ghs_${n}`), expiresAt: now + hour, refreshAt: now + hour - margin }
    })
    const cache = yield* TokenCache.make(exchange, yield* Effect.scope, 1, Duration.toMillis("30 seconds"))
    return { cache, calls: Ref.get(calls), failing }
  })

  /** Runs `self` while the test's Clock moves `by`. */
  const across = <A, E>(self: Effect.Effect<A, E>, by: Duration.DurationInput) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(self)
      yield* TestClock.adjust(by)
      return yield* Fiber.join(fiber)
    })

  /** `self`, which must complete without the Clock moving. */
  const atOnce = <A, E>(self: Effect.Effect<A, E>) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(self)
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      const exit = yield* Fiber.poll(fiber)
      expect(Option.isSome(exit), "the call waited").toBe(true)
      return yield* Option.getOrThrow(exit)
    })

  const name = (token: TokenCache.Cached) => Redacted.value(token.token)

  it.scoped("at the refresh moment many callers get the old token at once; one exchange replaces it", () =>
    Effect.gen(function*() {
      const { cache, calls } = yield* fake
      expect(name(yield* across(cache.get, "1 second"))).toBe("ghs_1")
      yield* TestClock.adjust("55 minutes")
      const all = yield* atOnce(Effect.all(Array.from({ length: 20 }, () => cache.get), { concurrency: "unbounded" }))
      expect(all.map(name)).toEqual(Array.from({ length: 20 }, () => "ghs_1"))
      expect(yield* calls).toBe(2)
      yield* TestClock.adjust("1 second")
      expect(name(yield* atOnce(cache.get))).toBe("ghs_2")
      expect(yield* calls).toBe(2)
    }))

  it.scoped("a failed refresh keeps serving the old token and is tried again 30 s later, not on every call", () =>
    Effect.gen(function*() {
      const { cache, calls, failing } = yield* fake
      yield* across(cache.get, "1 second")
      yield* Ref.set(failing, true)
      yield* TestClock.adjust("55 minutes")
      expect(name(yield* atOnce(cache.get))).toBe("ghs_1")
      yield* TestClock.adjust("1 second") // the refresh fails
      for (let i = 0; i < 10; i++) expect(name(yield* atOnce(cache.get))).toBe("ghs_1")
      expect(yield* calls).toBe(2)
      yield* TestClock.adjust("29 seconds")
      expect(name(yield* atOnce(cache.get))).toBe("ghs_1")
      expect(yield* calls).toBe(2)
      yield* TestClock.adjust("1 second") // 30 s after the failure
      expect(name(yield* atOnce(cache.get))).toBe("ghs_1")
      expect(yield* calls).toBe(3)
      yield* Ref.set(failing, false)
      yield* TestClock.adjust("1 second")
      expect(name(yield* atOnce(cache.get))).toBe("ghs_3")
    }))

  it.scoped("past the expiry a caller waits for the exchange, and gets its failure", () =>
    Effect.gen(function*() {
      const { cache, calls, failing } = yield* fake
      yield* across(cache.get, "1 second")
      yield* Ref.set(failing, true)
      yield* TestClock.adjust("1 hour")
      expect(yield* across(Effect.flip(cache.get), "1 second")).toBe("exchange 2 failed")
      // no valid token: the next caller does not wait out a backoff
      expect(yield* across(Effect.flip(cache.get), "1 second")).toBe("exchange 3 failed")
      expect(yield* calls).toBe(3)
    }))

  // The cached token's `expiresAt` is read inside the leader's claim of the exchange: reading it
  // interrupts the reading fiber, so the interruption lands between the claim and the fork.
  it.live("a leader interrupted between claiming the exchange and forking it does not strand later callers", () =>
    Effect.gen(function*() {
      let armed = false
      let calls = 0
      const expired = (n: number) => ({
        token: Redacted.make(`ghs_${n}`),
        refreshAt: 0,
        get expiresAt() {
          if (armed) {
            armed = false
            const fiber = Option.getOrThrow(Fiber.getCurrentFiber())
            fiber.unsafeInterruptAsFork(fiber.id())
          }
          return 0
        }
      })
      const exchange = Effect.sync(() => expired(++calls))
      const cache = yield* TokenCache.make(exchange, yield* Effect.scope, 1, 30_000)
      expect(name(yield* cache.get)).toBe("ghs_1")
      armed = true
      const leader = yield* Fiber.await(yield* Effect.fork(cache.get))
      expect(armed).toBe(false)
      expect(Exit.isInterrupted(leader)).toBe(true)
      const next = yield* Effect.timeoutOption(cache.get, "1 second")
      expect(Option.map(next, name)).toEqual(Option.some("ghs_3"))
      expect(calls).toBe(3)
    }).pipe(Effect.scoped))
})
