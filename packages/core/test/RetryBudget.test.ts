import * as Errors from "@bulwark/core/Errors"
import * as Retry from "@bulwark/core/Retry"
import * as RetryBudget from "@bulwark/core/RetryBudget"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc, Fiber, Logger, LogLevel, TestClock } from "effect"
import { failureOf, runOnTestClock, scripted } from "./utils/scripted.js"

const budget = (options: RetryBudget.Options) =>
  RetryBudget.make(options).pipe(Effect.orDieWith((e) => new Error(e.message)))

describe("RetryBudget", () => {
  it.effect("each request buys `ratio` of a retry, on top of the reserve", () =>
    Effect.gen(function*() {
      const b = yield* budget({ ratio: 0.5, minRetriesPerSecond: 0 })
      expect(yield* b.tryWithdraw).toBe(false)
      yield* b.deposit
      yield* b.deposit
      expect(yield* b.balance).toBe(1)
      expect(yield* b.tryWithdraw).toBe(true)
      expect(yield* b.tryWithdraw).toBe(false)
    }))

  it.effect("the reserve is minRetriesPerSecond × ttl", () =>
    Effect.gen(function*() {
      const b = yield* budget({ ratio: 0.1, minRetriesPerSecond: 2, ttl: "5 seconds" })
      expect(yield* b.balance).toBe(10)
      for (let i = 0; i < 10; i++) expect(yield* b.tryWithdraw).toBe(true)
      expect(yield* b.tryWithdraw).toBe(false)
    }))

  it.effect("deposits and withdrawals expire after ttl", () =>
    Effect.gen(function*() {
      const b = yield* budget({ ratio: 1, minRetriesPerSecond: 0, ttl: "10 seconds" })
      yield* b.deposit
      yield* b.deposit
      expect(yield* b.tryWithdraw).toBe(true)
      yield* TestClock.adjust("10 seconds")
      expect(yield* b.balance).toBe(0)
      yield* b.deposit
      expect(yield* b.tryWithdraw).toBe(true)
      expect(yield* b.tryWithdraw).toBe(false)
    }))

  it.effect("an empty budget stops the retries: the caller gets the original error and the reason", () =>
    Effect.gen(function*() {
      const b = yield* budget({ service: "llm", ratio: 0.1, minRetriesPerSecond: 0 })
      const policy = yield* Retry.policy({ name: "llm", maxAttempts: 5, budget: b })
      const down = new Errors.Unavailable({ service: "llm" })
      const { calls, effect } = scripted([down, down, down])
      const exit = yield* runOnTestClock(effect.pipe(Retry.retry(policy)))
      expect(calls).toHaveLength(1)
      const error = failureOf(exit) as Retry.RetriesExhausted<Errors.Unavailable>
      expect(error).toMatchObject({ reason: "budget-exhausted", lastError: down, attempts: 1 })
      expect(error.message).toContain("retry budget is exhausted")
    }))

  it.effect.prop(
    "under a total outage, calls ≤ (1 + ratio) × requests + minRetriesPerSecond × (seconds + ttl)",
    [
      fc.integer({ min: 1, max: 20 }), // requests per second
      fc.integer({ min: 5, max: 25 }), // seconds of outage
      fc.double({ min: 0.05, max: 0.5, noNaN: true }),
      fc.integer({ min: 0, max: 3 })
    ],
    ([perSecond, seconds, ratio, minRetriesPerSecond]) =>
      Effect.gen(function*() {
        const ttlSeconds = 10
        const b = yield* budget({ ratio, minRetriesPerSecond, ttl: `${ttlSeconds} seconds` })
        const policy = yield* Retry.policy({ maxAttempts: 4, base: "100 millis", budget: b })
        let calls = 0
        const down = Effect.suspend(() => {
          calls++
          return Effect.fail(new Errors.Unavailable({}))
        })
        const requests = perSecond * seconds
        const fibers = []
        // Each second a burst of requests (one clock step per second keeps the test fast).
        for (let second = 0; second < seconds; second++) {
          for (let i = 0; i < perSecond; i++) {
            fibers.push(yield* Effect.fork(Effect.either(down.pipe(Retry.retry(policy)))))
          }
          yield* TestClock.adjust("1 second")
        }
        yield* TestClock.adjust("1 minute")
        for (const fiber of fibers) yield* Fiber.join(fiber)
        expect(calls).toBeLessThanOrEqual((1 + ratio) * requests + minRetriesPerSecond * (seconds + ttlSeconds))
        // Without the budget (and its reserve) it would have been 4 × requests.
        if (minRetriesPerSecond === 0) expect(calls).toBeLessThan(4 * requests)
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None)),
    { timeout: 30_000, fastCheck: { numRuns: 15 } }
  )

  it.each(
    [
      [{ ratio: 0 }, "ratio"],
      [{ ratio: 1.5 }, "ratio"],
      [{ ratio: Number.NaN }, "ratio"],
      [{ minRetriesPerSecond: -1 }, "minRetriesPerSecond"],
      [{ ttl: 0 }, "ttl"],
      [{ ttl: "-1 seconds" }, "ttl"],
      [{ service: "" }, "service"]
    ] as const
  )("%j is refused, naming %s", (options, field) => {
    const exit = Effect.runSyncExit(RetryBudget.make(options as RetryBudget.Options))
    expect(exit._tag).toBe("Failure")
    const error = Effect.runSync(Effect.flip(RetryBudget.make(options as RetryBudget.Options)))
    expect(error).toMatchObject({ _tag: "InvalidPolicy", policy: "retry-budget", field })
  })

  it("a policy refuses a budget that is not one", () => {
    const result = Retry.policy({ budget: { tryWithdraw: 1 } as unknown as RetryBudget.RetryBudget })
    expect(Either.isLeft(result) && result.left.field).toBe("budget")
  })
})
