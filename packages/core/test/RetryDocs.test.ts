/**
 * Every ```ts block of docs/retry.md is a region of this file, run here as a test;
 * the last test fails when the page and this file drift apart.
 */
import { Backoff, Errors, Retry, RetryAfter, RetryBudget } from "@bulwark/core"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigProvider, Duration, Effect, Either, Exit, Schedule } from "effect"
import { relative, runOnTestClock, scripted } from "./utils/scripted.js"

const callLlm = scripted([new Errors.RateLimited({ retryAfter: Duration.seconds(2) }), new Errors.ServerError({})])

describe("docs/retry.md", () => {
  it.effect("basic use", () =>
    Effect.gen(function*() {
      const result = yield* runOnTestClock(
        // #region basic
        Effect.gen(function*() {
          const policy = yield* Retry.policy({ name: "llm", maxAttempts: 5, base: "1 second", maxDelay: "60 seconds" })
          return yield* callLlm.effect.pipe(Retry.retry(policy))
        })
        // #endregion basic
      )
      expect(result._tag).toBe("Success")
      expect(callLlm.calls).toHaveLength(3)
      expect(relative(callLlm.calls)[1]).toBeGreaterThanOrEqual(2000)
    }))

  it.effect("GPU busy", () =>
    Effect.gen(function*() {
      const orpheus = scripted([
        new Errors.RateLimited({ detail: "GPU busy", retryAfter: Duration.seconds(30) }),
        new Errors.RateLimited({ detail: "GPU busy", retryAfter: Duration.seconds(30) })
      ])
      const generate = orpheus.effect
      const exit = yield* runOnTestClock(
        // #region gpu-busy
        Effect.gen(function*() {
          const policy = yield* Retry.policy({
            name: "orpheus",
            maxAttempts: 3, // real failures
            retryAfter: "override", // wait exactly what the server says
            rateLimitedAttempts: "free", // "GPU busy" is not a failed attempt...
            maxRateLimited: 50, // ...but there is a bound
            maxElapsed: "10 minutes" // and a deadline that is never overshot
          })
          return yield* generate.pipe(Retry.retry(policy))
        })
        // #endregion gpu-busy
      )
      expect(exit._tag).toBe("Success")
      expect(relative(orpheus.calls)).toEqual([0, 30_000, 60_000])
    }))

  it.effect("backoff schedules compose with Effect", () =>
    Effect.gen(function*() {
      const flaky = scripted([new Errors.Unavailable({ retryAfter: Duration.seconds(5) }), new Errors.TimedOut({})])
      const call = flaky.effect
      const exit = yield* runOnTestClock(
        // #region schedules
        Effect.gen(function*() {
          const backoff = yield* Backoff.exponential({ base: "2 seconds", maxDelay: "60 seconds", jitter: "equal" })
          // With Effect's own retry: the backoff, server hints honoured, at most 3 retries.
          const schedule = backoff.pipe(RetryAfter.honor("floor"), Schedule.intersect(Schedule.recurs(3)))
          return yield* Effect.retry(call, schedule)
        })
        // #endregion schedules
      )
      expect(exit._tag).toBe("Success")
      expect(relative(flaky.calls)[1]).toBeGreaterThanOrEqual(5000)
    }))

  it.effect("custom schedule in a policy", () =>
    Effect.gen(function*() {
      const flaky = scripted([new Errors.ServerError({}), new Errors.ServerError({})])
      const call = flaky.effect
      yield* runOnTestClock(
        // #region custom-schedule
        Effect.gen(function*() {
          const policy = yield* Retry.policy({
            name: "poller",
            maxAttempts: 10,
            backoff: Schedule.spaced("5 seconds").pipe(Schedule.upTo("1 minute"))
          })
          return yield* call.pipe(Retry.retry(policy))
        })
        // #endregion custom-schedule
      )
      expect(relative(flaky.calls)).toEqual([0, 5000, 10_000])
    }))

  it.effect("what giving up looks like", () =>
    Effect.gen(function*() {
      const down = scripted(Array(9).fill(new Errors.ServerError({ status: 502 })))
      const call = down.effect
      const message = yield* runOnTestClock(
        // #region exhausted
        Effect.gen(function*() {
          const policy = yield* Retry.policy({ name: "llm", maxAttempts: 3 })
          return yield* call.pipe(
            Retry.retry(policy),
            Effect.catchTag("RetriesExhausted", (e) =>
              Effect.succeed(`${e.reason} after ${e.attempts} calls; last: ${e.lastError._tag}`))
          )
        })
        // #endregion exhausted
      )
      expect(message).toEqual(Exit.succeed("max-attempts after 3 calls; last: ServerError"))
    }))

  it.effect("from the environment", () =>
    Effect.gen(function*() {
      const env = ConfigProvider.fromMap(
        new Map([["LLM_RETRY_MAX_ATTEMPTS", "6"], ["LLM_RETRY_MAX_ELAPSED", "2 minutes"]]),
        { pathDelim: "_" }
      )
      const loaded = yield* Effect.withConfigProvider(
        // #region config
        Effect.gen(function*() {
          // LLM_RETRY_MAX_ATTEMPTS=6 LLM_RETRY_MAX_ELAPSED="2 minutes"
          const policy = yield* Retry.config({ name: "llm", maxAttempts: 5 }).pipe(Config.nested("LLM_RETRY"))
          return policy
        }),
        // #endregion config
        env
      )
      expect(loaded).toMatchObject({ maxAttempts: 6, maxElapsedMillis: 120_000 })
    }))

  it.effect("a retry budget shared by a service", () =>
    Effect.gen(function*() {
      const down = scripted(Array(9).fill(new Errors.Unavailable({ service: "agent_http" })))
      const call = down.effect
      const exit = yield* runOnTestClock(
        // #region budget
        Effect.gen(function*() {
          // One budget for every call to the service: 10% of requests may be retried, plus 1 retry a second.
          const budget = yield* RetryBudget.make({ service: "agent_http", ratio: 0.1, minRetriesPerSecond: 1 })
          const policy = yield* Retry.policy({ name: "agent_http", maxAttempts: 4, budget })
          return yield* call.pipe(Retry.retry(policy))
        })
        // #endregion budget
      )
      // The reserve (1 × 10 s) pays for this one call's three retries.
      expect(down.calls).toHaveLength(4)
      expect(exit._tag).toBe("Failure")
    }))

  it("bad options are refused with a typed error", () => {
    // #region invalid
    const result = Retry.policy({ maxAttempts: 0 })
    // Left(InvalidPolicy: invalid retry option maxAttempts = 0: expected an integer ≥ 1 (or Infinity))
    // #endregion invalid
    expect(Either.isLeft(result) && result.left.message).toBe(
      "invalid retry option maxAttempts = 0: expected an integer ≥ 1 (or Infinity)"
    )
  })

  it("every ts block of docs/retry.md is a region of this file", () => expectDocRegions("retry.md", __filename))
})
