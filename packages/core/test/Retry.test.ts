import type { RetryAfter } from "@bulwark/core"
import { Backoff, Errors, Metrics, Retry } from "@bulwark/core"
import { describe, expect, it } from "@effect/vitest"
import {
  Config,
  ConfigProvider,
  Duration,
  Effect,
  Either,
  Exit,
  FastCheck as fc,
  Logger,
  Metric,
  Random,
  Schedule
} from "effect"
import { failureOf, relative, runOnTestClock, scripted } from "./utils/scripted.js"

type WrapOptions = Omit<Retry.Options, "exhausted">

const policy = (options: WrapOptions) =>
  Either.getOrThrowWith(Retry.policy({ jitter: "none", ...options }), (e) => new Error(e.message))

const serverError = new Errors.ServerError({ status: 500 })
const gpuBusy = (seconds?: number) =>
  new Errors.RateLimited({
    service: "orpheus",
    detail: "GPU busy",
    ...(seconds === undefined ? {} : { retryAfter: Duration.seconds(seconds) })
  })

/** Runs `failures` then success under `options` on the TestClock. */
const retried = (options: WrapOptions, failures: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const { calls, effect } = scripted(failures)
    const exit = yield* runOnTestClock(effect.pipe(Retry.retry(policy(options))))
    return { exit, calls: relative(calls) }
  })

describe("Retry", () => {
  describe("backoff timing on the TestClock", () => {
    it.effect("exponential: calls at 0, 1, 3, 7 s, then success", () =>
      Effect.gen(function*() {
        const { calls, exit } = yield* retried({ maxAttempts: 4, base: "1 second" }, [
          serverError,
          serverError,
          serverError
        ])
        expect(calls).toEqual([0, 1000, 3000, 7000])
        expect(exit).toEqual(Exit.succeed("ok"))
      }))

    it.effect("the cap bounds each delay", () =>
      Effect.gen(function*() {
        const { calls } = yield* retried({ maxAttempts: 6, base: 1000, maxDelay: 2500 }, Array(5).fill(serverError))
        expect(calls).toEqual([0, 1000, 3000, 5500, 8000, 10_500])
      }))

    it.effect("maxAttempts counts calls: 3 means one call and two retries", () =>
      Effect.gen(function*() {
        const { calls, exit } = yield* retried({ name: "three", maxAttempts: 3 }, Array(5).fill(serverError))
        expect(calls).toEqual([0, 1000, 3000])
        const error = failureOf(exit) as Retry.RetriesExhausted<Errors.ServerError>
        expect(error).toBeInstanceOf(Retry.RetriesExhausted)
        expect(error).toMatchObject({ reason: "max-attempts", attempts: 3, policy: "three", lastError: serverError })
        expect(Duration.toMillis(error.elapsed)).toBe(3000)
        expect(error.message).toBe(
          "three gave up after 3 attempts: no attempts left; last error: server error (HTTP 500)"
        )
      }))

    it.effect("maxAttempts: 1 never retries", () =>
      Effect.gen(function*() {
        const { calls, exit } = yield* retried({ maxAttempts: 1 }, [serverError])
        expect(calls).toEqual([0])
        expect(failureOf(exit)).toMatchObject({ _tag: "RetriesExhausted", attempts: 1 })
      }))

    it.effect("a custom schedule drives the delays, and its end stops the retries", () =>
      Effect.gen(function*() {
        const backoff = Schedule.spaced("2 seconds").pipe(Schedule.intersect(Schedule.recurs(2)))
        const { calls, exit } = yield* retried(
          { maxAttempts: 10, backoff, jitter: undefined },
          Array(5).fill(serverError)
        )
        expect(calls).toEqual([0, 2000, 4000])
        expect(failureOf(exit)).toMatchObject({ reason: "schedule-done", attempts: 3 })
      }))
  })

  describe("classification", () => {
    it.effect("a non-retryable failure passes through unchanged after one call", () =>
      Effect.gen(function*() {
        const notFound = new Errors.Rejected({ status: 404 })
        const { calls, exit } = yield* retried({ maxAttempts: 5 }, [notFound])
        expect(calls).toEqual([0])
        expect(failureOf(exit)).toBe(notFound)
      }))

    it.effect("retryOn overrides the default classification", () =>
      Effect.gen(function*() {
        const { calls, exit } = yield* retried({ maxAttempts: 3, retryOn: (e) => e === "flaky" }, ["flaky", "fatal"])
        expect(calls).toEqual([0, 1000])
        expect(failureOf(exit)).toBe("fatal")
      }))

    it.effect("defects and interruptions are never retried", () =>
      Effect.gen(function*() {
        let calls = 0
        const exit = yield* runOnTestClock(
          Effect.suspend(() => {
            calls++
            return Effect.die("boom")
          }).pipe(Retry.retry(policy({ maxAttempts: 5 })))
        )
        expect(calls).toBe(1)
        expect(Exit.isFailure(exit) && exit.cause._tag).toBe("Die")
      }))

    it.effect("exhausted: last-error surfaces the last failure unchanged", () =>
      Effect.gen(function*() {
        const { calls, effect } = scripted([serverError, serverError])
        const exit = yield* runOnTestClock(
          effect.pipe(Retry.retry(Either.getOrThrow(Retry.policy({ maxAttempts: 2, exhausted: "last-error" }))))
        )
        expect(calls).toHaveLength(2)
        expect(failureOf(exit)).toBe(serverError)
      }))
  })

  describe("Retry-After", () => {
    const cases = [
      ["floor", 5, 1, 5000],
      ["floor", 1, 1, 1000],
      ["floor", 0.3, 1, 1000],
      ["override", 0.3, 1, 300],
      ["override", 5, 1, 5000],
      ["ignore", 5, 1, 1000]
    ] as const
    it.effect.each(cases)(
      "%s: hint %d s, backoff %d s → waits %d ms",
      ([mode, hint, base, expected]) =>
        Effect.gen(function*() {
          const { calls } = yield* retried({ maxAttempts: 2, base: Duration.seconds(base), retryAfter: mode }, [
            gpuBusy(hint)
          ])
          expect(calls).toEqual([0, expected])
        })
    )

    it.effect("a hint is rounded up to the next millisecond, never down", () =>
      Effect.gen(function*() {
        const error = new Errors.Unavailable({ retryAfter: Duration.micros(1_200n) })
        const { calls } = yield* retried({ maxAttempts: 2, base: 0, retryAfter: "override" }, [error])
        expect(calls).toEqual([0, 2])
      }))

    it.effect("any tagged error with a retryAfter Duration is a hint", () =>
      Effect.gen(function*() {
        const mine = { _tag: "Mine", retryAfter: Duration.seconds(4) }
        const { calls } = yield* retried({ maxAttempts: 2, retryOn: () => true }, [mine])
        expect(calls).toEqual([0, 4000])
      }))

    it.effect("a hint beyond maxRetryAfter gives up at once, saying so", () =>
      Effect.gen(function*() {
        const { calls, exit } = yield* retried({ maxAttempts: 5, maxRetryAfter: "1 minute" }, [gpuBusy(3600)])
        expect(calls).toEqual([0])
        const error = failureOf(exit) as Retry.RetriesExhausted
        expect(error.reason).toBe("retry-after-beyond-cap")
        expect(error.retryAfter).toEqual(Duration.seconds(3600))
        expect(error.message).toContain("longer than maxRetryAfter")
      }))

    it.effect("free rate-limited retries do not use up attempts", () =>
      Effect.gen(function*() {
        const { calls, exit } = yield* retried(
          { maxAttempts: 2, retryAfter: "override", rateLimitedAttempts: "free" },
          [gpuBusy(5), gpuBusy(5), gpuBusy(5), serverError]
        )
        expect(calls).toEqual([0, 5000, 10_000, 15_000, 16_000])
        expect(exit).toEqual(Exit.succeed("ok"))
      }))

    it.effect("counted rate-limited retries do", () =>
      Effect.gen(function*() {
        const { calls, exit } = yield* retried({ maxAttempts: 2, retryAfter: "override" }, [gpuBusy(5), gpuBusy(5)])
        expect(calls).toEqual([0, 5000])
        expect(failureOf(exit)).toMatchObject({ reason: "max-attempts" })
      }))

    it.effect("free rate-limited retries have their own bound", () =>
      Effect.gen(function*() {
        const { calls, exit } = yield* retried(
          { maxAttempts: 2, rateLimitedAttempts: "free", maxRateLimited: 2, retryAfter: "override" },
          Array(5).fill(gpuBusy(1))
        )
        expect(calls).toEqual([0, 1000, 2000])
        expect(failureOf(exit)).toMatchObject({ reason: "max-rate-limited", attempts: 3 })
      }))
  })

  describe("deadline", () => {
    it.effect("a retry whose sleep would end past maxElapsed is not started", () =>
      Effect.gen(function*() {
        const { calls, exit } = yield* retried({ maxAttempts: 10, maxElapsed: "5 seconds" }, Array(9).fill(serverError))
        expect(calls).toEqual([0, 1000, 3000])
        const error = failureOf(exit) as Retry.RetriesExhausted
        expect(error.reason).toBe("deadline")
        expect(Duration.toMillis(error.elapsed)).toBe(3000)
      }))

    it.effect("a sleep that ends exactly at the deadline is allowed", () =>
      Effect.gen(function*() {
        const { calls } = yield* retried({ maxAttempts: 10, maxElapsed: "3 seconds" }, Array(9).fill(serverError))
        expect(calls).toEqual([0, 1000, 3000])
      }))

    it.effect("a hint that ends past the deadline gives up at once, saying so", () =>
      Effect.gen(function*() {
        const { calls, exit } = yield* retried({ maxAttempts: 5, maxElapsed: "10 seconds" }, [gpuBusy(30)])
        expect(calls).toEqual([0])
        expect(failureOf(exit)).toMatchObject({ reason: "retry-after-beyond-deadline" })
      }))

    it.effect("the deadline counts from the start of the first call", () =>
      Effect.gen(function*() {
        const slow = Effect.sleep("4 seconds").pipe(Effect.zipRight(Effect.fail(serverError)))
        const exit = yield* runOnTestClock(slow.pipe(Retry.retry(policy({ maxAttempts: 5, maxElapsed: "6 seconds" }))))
        // 4 s call + 1 s backoff + 4 s call = 9 s: the second retry (2 s sleep from 9 s) would end at 11 s > 6 s.
        expect(failureOf(exit)).toMatchObject({ reason: "deadline", attempts: 2 })
        expect(Duration.toMillis((failureOf(exit) as Retry.RetriesExhausted).elapsed)).toBe(9000)
      }))
  })

  describe("observability", () => {
    it.effect("logs one WARN line per retry and one when giving up", () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const logger = Logger.make(({ logLevel, message }) => {
          lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
        })
        const { effect } = scripted([serverError, gpuBusy(2), serverError])
        yield* runOnTestClock(
          effect.pipe(
            Retry.retry(policy({ name: "llm", maxAttempts: 3 })),
            Effect.provide(Logger.replace(Logger.defaultLogger, logger))
          )
        )
        expect(lines).toEqual([
          "WARN [Attempt 1/3] llm failed: ServerError server error (HTTP 500). Retrying in 1.0s",
          "WARN [Attempt 2/3] llm failed: RateLimited rate limited from orpheus: GPU busy; retry after 2s. Retrying in 2.0s",
          "WARN [Attempt 3/3] llm failed: ServerError server error (HTTP 500). Giving up: no attempts left"
        ])
      }))

    it.effect("counts retries and give-ups, and records delays, by policy", () =>
      Effect.gen(function*() {
        const name = "metrics-policy"
        yield* retried({ name, maxAttempts: 3 }, [serverError, serverError, serverError])
        const attempts = yield* Metric.value(
          Metric.tagged(Metric.tagged(Metrics.retryAttempts, "policy", name), "error", "ServerError")
        )
        const exhausted = yield* Metric.value(
          Metric.tagged(Metric.tagged(Metrics.retryExhausted, "policy", name), "reason", "max-attempts")
        )
        const delays = yield* Metric.value(Metric.tagged(Metrics.retryDelaySeconds, "policy", name))
        expect(attempts.count).toBe(2)
        expect(exhausted.count).toBe(1)
        expect(delays.count).toBe(2)
        expect(delays.sum).toBe(3)
      }))

    it.effect("adds a span event per retry to the current span", () =>
      Effect.gen(function*() {
        const { effect } = scripted([serverError])
        const exit = yield* runOnTestClock(
          Effect.gen(function*() {
            yield* effect.pipe(Retry.retry(policy({ name: "traced" })))
            return yield* Effect.currentSpan
          }).pipe(Effect.withSpan("call"))
        )
        // The native span keeps its events; the Span interface does not expose them.
        const span = Exit.getOrElse(exit, () => expect.fail("no span")) as unknown as {
          readonly events: ReadonlyArray<readonly [string, bigint, Record<string, unknown>]>
        }
        // Effect also records each log line as an event; keep Bulwark's own.
        const events = span.events.filter(([name]) => name.startsWith("bulwark."))
        expect(events.map(([name, , attributes]) => [name, attributes])).toEqual([[
          "bulwark.retry",
          { policy: "traced", attempt: 1, "delay.ms": 1000, "error.tag": "ServerError", "rate_limited.free": false }
        ]])
      }))
  })

  describe("properties", () => {
    const arbitraryPolicy = fc.record({
      maxAttempts: fc.integer({ min: 1, max: 8 }),
      base: fc.integer({ min: 0, max: 2000 }),
      extra: fc.integer({ min: 0, max: 20_000 }),
      jitter: fc.constantFrom(...Backoff.jitters),
      seed: fc.integer()
    })

    it.effect.prop(
      "calls never exceed maxAttempts",
      [arbitraryPolicy, fc.integer({ min: 0, max: 12 })],
      ([{ base, extra, jitter, maxAttempts, seed }, failures]) =>
        Effect.gen(function*() {
          const { calls, exit } = yield* retried(
            { maxAttempts, base, maxDelay: base + extra, jitter },
            Array(failures).fill(serverError)
          ).pipe(Effect.withRandom(Random.make(seed)))
          expect(calls.length).toBe(Math.min(maxAttempts, failures + 1))
          if (failures >= maxAttempts) expect(failureOf(exit)).toMatchObject({ attempts: maxAttempts })
          else expect(exit).toEqual(Exit.succeed("ok"))
        })
    )

    it.effect.prop(
      "no call starts after the deadline, and every delay lies in [0, maxDelay] or honours a hint",
      [arbitraryPolicy, fc.integer({ min: 0, max: 30_000 })],
      ([{ base, extra, jitter, seed }, deadline]) =>
        Effect.gen(function*() {
          // A floor of 100 ms keeps the number of retries before the deadline small.
          const cap = 100 + base + extra
          const { calls, exit } = yield* retried(
            { maxAttempts: Infinity, base: 100 + base, maxDelay: cap, jitter, maxElapsed: deadline },
            Array(100_000).fill(serverError)
          ).pipe(Effect.withRandom(Random.make(seed)))
          expect(calls[calls.length - 1]).toBeLessThanOrEqual(deadline)
          calls.slice(1).forEach((time, n) => expect(time - calls[n]!).toBeLessThanOrEqual(cap))
          expect(failureOf(exit)).toMatchObject({ reason: "deadline" })
        }),
      { timeout: 30_000, fastCheck: { numRuns: 40 } }
    )

    it.effect.prop(
      "a retry never fires before its hint; floor waits at least both hint and backoff",
      [
        fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom<RetryAfter.Mode>("floor", "override"),
        fc.integer({ min: 0, max: 3000 })
      ],
      ([hints, mode, base]) =>
        Effect.gen(function*() {
          const failures = hints.map((seconds) => new Errors.RateLimited({ retryAfter: Duration.seconds(seconds) }))
          const { calls } = yield* retried(
            { maxAttempts: hints.length + 1, base, maxDelay: 60_000, retryAfter: mode },
            failures
          )
          expect(calls).toHaveLength(hints.length + 1)
          failures.forEach((failure, n) => {
            const gap = calls[n + 1]! - calls[n]!
            const hint = Duration.toMillis(failure.retryAfter!)
            const backoff = Math.min(60_000, base * 2 ** n)
            expect(gap).toBeGreaterThanOrEqual(hint)
            expect(gap).toBeLessThan(Math.max(hint, mode === "floor" ? backoff : 0) + 1)
            if (mode === "floor") expect(gap).toBeGreaterThanOrEqual(backoff)
          })
        })
    )
  })

  describe("bad options", () => {
    it.each(
      [
        [{ maxAttempts: 0 }, "maxAttempts"],
        [{ maxAttempts: -1 }, "maxAttempts"],
        [{ maxAttempts: 2.5 }, "maxAttempts"],
        [{ maxAttempts: Number.NaN }, "maxAttempts"],
        [{ base: -100 }, "base"],
        [{ base: "2 seconds", maxDelay: "1 second" }, "maxDelay"],
        [{ factor: 0 }, "factor"],
        [{ jitter: "some" }, "jitter"],
        [{ maxElapsed: -1 }, "maxElapsed"],
        [{ maxElapsed: "-5 seconds" }, "maxElapsed"],
        [{ retryAfter: "always" }, "retryAfter"],
        [{ maxRetryAfter: Number.NaN }, "maxRetryAfter"],
        [{ rateLimitedAttempts: "never" }, "rateLimitedAttempts"],
        [{ maxRateLimited: -2 }, "maxRateLimited"],
        [{ retryOn: "yes" }, "retryOn"],
        [{ exhausted: "explode" }, "exhausted"],
        [{ name: "" }, "name"],
        [{ backoff: Schedule.spaced(1), base: 10 }, "base"]
      ] as const
    )("%j is refused, naming %s", (options, field) => {
      const result = Retry.policy(options as Retry.Options)
      expect(Either.isLeft(result)).toBe(true)
      const error = Either.flip(result).pipe(Either.getOrThrow)
      expect(error).toBeInstanceOf(Errors.InvalidPolicy)
      expect(error).toMatchObject({ policy: "retry", field })
      expect(error.message).toMatch(new RegExp(`^invalid retry option ${field} = .+: expected .+`))
    })
  })

  describe("from Config", () => {
    const fromEnv = (env: Record<string, string>) =>
      Retry.config({ name: "llm" }).pipe(
        Config.nested("LLM_RETRY"),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" })),
        Effect.either
      )

    it.effect("reads every option, with the user's defaults for unset ones", () =>
      Effect.gen(function*() {
        const result = yield* fromEnv({
          LLM_RETRY_MAX_ATTEMPTS: "5",
          LLM_RETRY_BASE_DELAY: "2 seconds",
          LLM_RETRY_MAX_DELAY: "1 minute",
          LLM_RETRY_JITTER: "equal",
          LLM_RETRY_MAX_ELAPSED: "10 minutes",
          LLM_RETRY_RETRY_AFTER: "override",
          LLM_RETRY_RATE_LIMITED_ATTEMPTS: "free"
        })
        const loaded = Either.getOrThrow(result)
        expect(loaded).toMatchObject({
          name: "llm",
          maxAttempts: 5,
          maxElapsedMillis: 600_000,
          retryAfter: "override",
          rateLimitedAttempts: "free",
          maxRateLimited: 20
        })
      }))

    it.effect.each(
      [
        [{ LLM_RETRY_MAX_ATTEMPTS: "-1" }, "MAX_ATTEMPTS"],
        [{ LLM_RETRY_MAX_ATTEMPTS: "NaN" }, "MAX_ATTEMPTS"],
        [{ LLM_RETRY_FACTOR: "lots" }, "FACTOR"],
        [{ LLM_RETRY_BASE_DELAY: "10 seconds", LLM_RETRY_MAX_DELAY: "1 second" }, "MAX_DELAY"],
        [{ LLM_RETRY_MAX_ELAPSED: "-5 seconds" }, "MAX_ELAPSED"],
        [{ LLM_RETRY_BASE_DELAY: "soon" }, "BASE_DELAY"],
        [{ LLM_RETRY_JITTER: "some" }, "JITTER"]
      ] as const
    )("%j fails with a ConfigError naming %s", ([env, key]) =>
      Effect.gen(function*() {
        const result = yield* fromEnv(env)
        const error = Either.flip(result).pipe(Either.getOrThrow)
        expect(String(error)).toContain(`LLM_RETRY.${key}`)
      }))
  })
})
