import * as AdaptiveLimiter from "@bulwark/core/AdaptiveLimiter"
import * as Errors from "@bulwark/core/Errors"
import * as Metrics from "@bulwark/core/Metrics"
import * as Timeout from "@bulwark/core/Timeout"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, FastCheck as fc, Fiber, Metric, TestClock } from "effect"
import { gaugeValue, settle, tracker } from "./utils/concurrency.js"
import { failureOf } from "./utils/scripted.js"

type Outcome = "ok" | "429" | "503" | "busy" | "timeout" | "408" | "404" | "500" | "defect"
const outcomes: Record<Outcome, Effect.Effect<void, unknown>> = {
  ok: Effect.void,
  "429": Effect.fail(new Errors.RateLimited({ status: 429 })),
  "503": Effect.fail(new Errors.Unavailable({ status: 503 })),
  busy: Effect.fail(new Errors.Overloaded({ detail: "server busy" })),
  timeout: Effect.fail(new Timeout.AttemptTimedOut({ service: "x", after: Duration.seconds(30) })),
  "408": Effect.fail(new Errors.TimedOut({ status: 408 })),
  "404": Effect.fail(new Errors.Rejected({ status: 404 })),
  "500": Effect.fail(new Errors.ServerError({ status: 500 })),
  defect: Effect.die("bug")
}

const limitOf = (limiter: AdaptiveLimiter.AdaptiveLimiter<any>) => Effect.map(limiter.stats, (stats) => stats.limit)

/** Runs one call per outcome at once, each taking `millis`, and waits for all of them. */
const round = (limiter: AdaptiveLimiter.AdaptiveLimiter<any>, calls: ReadonlyArray<Outcome>, millis = 100) =>
  Effect.gen(function*() {
    const fibers = yield* Effect.forEach(
      calls,
      (outcome) => Effect.fork(Effect.exit(limiter.protect(Effect.zipRight(Effect.sleep(millis), outcomes[outcome]))))
    )
    yield* TestClock.adjust(millis * (calls.length + 1))
    return yield* Effect.forEach(fibers, Fiber.join)
  })

describe("AdaptiveLimiter", () => {
  describe("AIMD", () => {
    it.effect("shrinks on 429, 503, overload and timeouts, by backoffRatio and at least 1", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({ service: "al-shrink", initialLimit: 20 })
        const seen: Array<number> = [yield* limitOf(limiter)]
        for (const outcome of ["429", "503", "busy", "timeout", "408"] as const) {
          yield* round(limiter, [outcome])
          seen.push(yield* limitOf(limiter))
        }
        // The limit is real-valued, admissions use its floor: 20, 18, 16.2, 14.58, 13.12, 11.81
        expect(seen).toEqual([20, 18, 16, 14, 13, 11])
        // Small limits still drop by one: 3 × 0.9 = 2.7, at most 3 - 1.
        const small = yield* AdaptiveLimiter.make({ service: "al-small", initialLimit: 3 })
        yield* round(small, ["429"])
        expect(yield* limitOf(small)).toBe(2)
      }))

    it.effect("grows by increment on success while at least half used", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({ service: "al-grow", initialLimit: 4 })
        // Four calls end with 4, 3, 2, 1 in flight: the first two see the limiter (4, then 5) at least half used.
        yield* round(limiter, ["ok", "ok", "ok", "ok"])
        expect(yield* limitOf(limiter)).toBe(6)
        // One call at a time uses 1 of 6 slots: the limit does not creep up to maxLimit.
        for (let i = 0; i < 10; i++) yield* round(limiter, ["ok"])
        expect(yield* limitOf(limiter)).toBe(6)
      }))

    it.effect("other failures, defects and interruptions leave the limit alone", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({ service: "al-ignore", initialLimit: 2 })
        yield* round(limiter, ["404", "500"])
        yield* round(limiter, ["defect", "defect"])
        const fiber = yield* Effect.fork(limiter.protect(Effect.never))
        yield* settle
        yield* Fiber.interrupt(fiber)
        expect(yield* limiter.stats).toEqual({ limit: 2, inflight: 0, queued: 0 })
      }))

    it.effect("a custom isOverload decides what shrinks the limit", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make<Errors.ServerError | Errors.RateLimited>({
          service: "al-custom",
          initialLimit: 10,
          isOverload: (error) => error._tag === "ServerError"
        })
        yield* round(limiter, ["429"])
        expect(yield* limitOf(limiter)).toBe(10)
        yield* round(limiter, ["500"])
        expect(yield* limitOf(limiter)).toBe(9)
      }))

    it.effect("one congestion event shrinks the limit once, however many calls report it", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({ service: "al-once", initialLimit: 10 })
        yield* round(limiter, ["429", "429", "429", "429", "429", "429"])
        expect(yield* limitOf(limiter)).toBe(9)
        // Calls admitted after the shrink report a new event.
        yield* round(limiter, ["503"])
        expect(yield* limitOf(limiter)).toBe(8)
      }))

    it.effect("never below minLimit nor above maxLimit", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({ service: "al-bounds", minLimit: 2, maxLimit: 5, initialLimit: 4 })
        for (let i = 0; i < 10; i++) yield* round(limiter, ["429"])
        expect(yield* limitOf(limiter)).toBe(2)
        for (let i = 0; i < 10; i++) yield* round(limiter, ["ok", "ok", "ok", "ok", "ok"])
        expect(yield* limitOf(limiter)).toBe(5)
      }))
  })

  it.effect.prop(
    "whatever the outcomes, the limit stays in [minLimit, maxLimit], no more than maxLimit run, all calls end",
    {
      minLimit: fc.integer({ min: 1, max: 5 }),
      span: fc.integer({ min: 0, max: 20 }),
      backoffRatio: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
      algorithm: fc.constantFrom("aimd" as const, "gradient" as const),
      rounds: fc.array(
        fc.array(
          fc.record({
            outcome: fc.constantFrom(...(Object.keys(outcomes) as Array<Outcome>)),
            millis: fc.integer({ min: 0, max: 500 })
          }),
          { minLength: 1, maxLength: 20 }
        ),
        { minLength: 1, maxLength: 6 }
      )
    },
    ({ algorithm, backoffRatio, minLimit, rounds, span }) =>
      Effect.gen(function*() {
        const maxLimit = minLimit + span
        const limiter = yield* AdaptiveLimiter.make({
          service: "al-prop",
          algorithm,
          minLimit,
          maxLimit,
          backoffRatio,
          maxQueue: Infinity
        })
        const work = tracker()
        const inRange = (limit: number) => {
          expect(limit).toBeGreaterThanOrEqual(minLimit)
          expect(limit).toBeLessThanOrEqual(maxLimit)
        }
        for (const calls of rounds) {
          const fibers = yield* Effect.forEach(calls, ({ millis, outcome }) =>
            Effect.fork(Effect.exit(limiter.protect(work.run(Effect.gen(function*() {
              const stats = yield* limiter.stats
              inRange(stats.limit)
              yield* Effect.sleep(millis)
              return yield* outcomes[outcome]
            }))))))
          yield* TestClock.adjust(500 * (calls.length + 1))
          yield* Effect.forEach(fibers, Fiber.join)
          const stats = yield* limiter.stats
          inRange(stats.limit)
          expect(stats).toMatchObject({ inflight: 0, queued: 0 })
        }
        expect(work.state.max).toBeLessThanOrEqual(maxLimit)
        expect(work.state.finished).toBe(rounds.flat().length)
      }),
    { timeout: 30_000, fastCheck: { numRuns: 60 } }
  )

  describe("queueing", () => {
    it.effect("calls over the limit wait, and are admitted as the limit grows", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({ service: "al-queue", initialLimit: 1 })
        const work = tracker()
        const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(limiter.protect(work.hold(100))))
        yield* settle
        expect(yield* limiter.stats).toEqual({ limit: 1, inflight: 1, queued: 2 })
        yield* TestClock.adjust(100)
        // The first success grew the limit to 2: both waiters are admitted together.
        expect(yield* limiter.stats).toEqual({ limit: 2, inflight: 2, queued: 0 })
        yield* TestClock.adjust(100)
        yield* Fiber.joinAll(fibers)
        expect(work.state.started).toEqual([0, 100, 100])
      }))

    it.effect("a full queue fails with LimitExceeded; a long wait with LimitQueueTimeout", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({
          service: "al-full",
          initialLimit: 1,
          maxQueue: 1,
          queueTimeout: "1 second"
        })
        yield* Effect.fork(limiter.protect(Effect.sleep("1 minute")))
        yield* settle
        const waiter = yield* Effect.fork(Effect.exit(limiter.protect(Effect.void)))
        yield* settle
        const full = yield* Effect.flip(limiter.protect(Effect.void))
        expect(full).toBeInstanceOf(AdaptiveLimiter.LimitExceeded)
        expect(full).toMatchObject({ service: "al-full", limit: 1, maxQueue: 1 })
        expect(full.message).toBe("concurrency limit for al-full exceeded: 1 running, 1 queued")
        yield* TestClock.adjust("1 second")
        const timedOut = failureOf(yield* Fiber.join(waiter))
        expect(timedOut).toBeInstanceOf(AdaptiveLimiter.LimitQueueTimeout)
        expect(yield* limiter.stats).toEqual({ limit: 1, inflight: 1, queued: 0 })
      }))

    it.effect("maxQueue: 0 refuses at once", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({ service: "al-noqueue", initialLimit: 1, maxQueue: 0 })
        yield* Effect.fork(limiter.protect(Effect.never))
        yield* settle
        expect((yield* Effect.flip(limiter.protect(Effect.void)))._tag).toBe("LimitExceeded")
      }))
  })

  describe("gradient", () => {
    it.effect("rising latency shrinks the limit; steady latency lets it grow", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({
          service: "al-gradient",
          algorithm: "gradient",
          initialLimit: 20,
          minLimit: 2,
          maxLimit: 40
        })
        const busy = (millis: number) => round(limiter, Array(20).fill("ok"), millis)
        yield* busy(100)
        const warm = yield* limitOf(limiter)
        expect(warm).toBeGreaterThan(20)
        yield* busy(400)
        const slow = yield* limitOf(limiter)
        expect(slow).toBeLessThan(warm)
        for (let i = 0; i < 5; i++) yield* busy(100)
        expect(yield* limitOf(limiter)).toBeGreaterThan(slow)
      }))

    it.effect("overload still shrinks the limit multiplicatively", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({ service: "al-gradient-429", algorithm: "gradient" })
        yield* round(limiter, ["429"])
        expect(yield* limitOf(limiter)).toBe(9)
      }))
  })

  it.effect("gauges: the limit and the calls in flight, tagged by service", () =>
    Effect.gen(function*() {
      const service = "al-gauges"
      const limiter = yield* AdaptiveLimiter.make({ service, initialLimit: 3 })
      yield* Effect.forEach([1, 2], () => Effect.fork(limiter.protect(Effect.sleep(100))))
      yield* settle
      expect(yield* gaugeValue(Metric.tagged(Metrics.adaptiveInflight, "service", service))).toBe(2)
      expect(yield* gaugeValue(Metric.tagged(Metrics.adaptiveLimit, "service", service))).toBe(3)
      yield* TestClock.adjust(100)
      expect(yield* gaugeValue(Metric.tagged(Metrics.adaptiveInflight, "service", service))).toBe(0)
      // Two calls under a limit of 3: the first to end saw 2 in flight (≥ half) and grew it.
      expect(yield* gaugeValue(Metric.tagged(Metrics.adaptiveLimit, "service", service))).toBe(4)
    }))

  it.effect("results and failures pass through unchanged", () =>
    Effect.gen(function*() {
      const limiter = yield* AdaptiveLimiter.make({ service: "al-pass" })
      expect(yield* limiter.protect(Effect.succeed(42))).toBe(42)
      expect(yield* Effect.exit(limiter.protect(Effect.fail("boom")))).toEqual(Exit.fail("boom"))
    }))

  describe("bad configuration", () => {
    const field = (options: AdaptiveLimiter.Options) =>
      Effect.map(Effect.flip(AdaptiveLimiter.make(options)), (error) => error.field)

    it.effect("names the field", () =>
      Effect.gen(function*() {
        expect(yield* field({ minLimit: 5, maxLimit: 4 })).toBe("maxLimit")
        expect(yield* field({ minLimit: 0 })).toBe("minLimit")
        expect(yield* field({ maxLimit: 1.5 })).toBe("maxLimit")
        expect(yield* field({ initialLimit: 0 })).toBe("initialLimit")
        expect(yield* field({ initialLimit: 300 })).toBe("initialLimit")
        expect(yield* field({ backoffRatio: 0 })).toBe("backoffRatio")
        expect(yield* field({ backoffRatio: 1 })).toBe("backoffRatio")
        expect(yield* field({ backoffRatio: 1.5 })).toBe("backoffRatio")
        expect(yield* field({ increment: 0 })).toBe("increment")
        expect(yield* field({ smoothing: 0 })).toBe("smoothing")
        expect(yield* field({ longWindow: 0 })).toBe("longWindow")
        expect(yield* field({ queueSize: -1 })).toBe("queueSize")
        expect(yield* field({ maxQueue: -1 })).toBe("maxQueue")
        expect(yield* field({ queueTimeout: -1 })).toBe("queueTimeout")
        expect(yield* field({ algorithm: "vegas" as "aimd" })).toBe("algorithm")
        expect(yield* field({ isOverload: "429" as never })).toBe("isOverload")
        const error = yield* Effect.flip(AdaptiveLimiter.make({ minLimit: 5, maxLimit: 4 }))
        expect(error.message).toBe("invalid adaptive-limiter option maxLimit = 4: expected an integer ≥ minLimit (5)")
        // The default initial limit is clamped into a narrow range rather than refused.
        expect((yield* AdaptiveLimiter.make({ minLimit: 1, maxLimit: 4 }).pipe(Effect.flatMap((l) => l.stats))).limit)
          .toBe(4)
      }))
  })
})
