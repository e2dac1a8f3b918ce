import * as Errors from "@bulwark/core/Errors"
import * as Metrics from "@bulwark/core/Metrics"
import * as RateLimiter from "@bulwark/core/RateLimiter"
import * as Retry from "@bulwark/core/Retry"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either, FastCheck as fc, Fiber, Metric, TestClock } from "effect"
import { counterValue, settle } from "./utils/concurrency.js"
import { failureOf } from "./utils/scripted.js"

/** Forks one call per arrival time (ms from now); resolves to the start time of each, in arrival order. */
const arrivals = <X>(limiter: RateLimiter.RateLimiter<X>, times: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const starts: Array<number | undefined> = times.map(() => undefined)
    const fibers = yield* Effect.forEach(times, (at, i) =>
      Effect.fork(
        Effect.sleep(at).pipe(
          Effect.zipRight(
            limiter.protect(Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => (starts[i] = now))))
          )
        )
      ))
    return { fibers, starts }
  })

describe("RateLimiter", () => {
  describe("waiting (the default)", () => {
    it.effect("spacing: 100 ms between calls (seed 001), first come first served", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ service: "llm", spacing: "100 millis" })
        const { fibers, starts } = yield* arrivals(limiter, [0, 0, 0, 0, 0, 250])
        yield* TestClock.adjust("1 second")
        yield* Fiber.joinAll(fibers)
        expect(starts).toEqual([0, 100, 200, 300, 400, 500])
      }))

    it.effect("token bucket: a burst, then one call per emission interval", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ service: "rl-bucket", rate: 2, interval: "1 second" })
        const { fibers, starts } = yield* arrivals(limiter, [0, 0, 0, 0, 0])
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.joinAll(fibers)
        expect(starts).toEqual([0, 0, 500, 1000, 1500])
      }))

    it.effect("the bucket refills while idle, up to burst", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ service: "rl-refill", rate: 1, burst: 3, interval: "1 second" })
        const { fibers, starts } = yield* arrivals(limiter, [0, 0, 0, 0, 10_000, 10_000, 10_000, 10_000])
        yield* TestClock.adjust("20 seconds")
        yield* Fiber.joinAll(fibers)
        // Arrivals at the same instant may be served in any order: compare the times.
        expect([...starts].sort((a, b) => a! - b!)).toEqual([0, 0, 0, 1000, 10_000, 10_000, 10_000, 11_000])
        expect(yield* limiter.stats).toEqual({ tokens: 3, waiting: 0 })
      }))

    it.effect("rate and spacing together: both hold", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ service: "rl-both", rate: 3, burst: 3, spacing: 100 })
        const { fibers, starts } = yield* arrivals(limiter, [0, 0, 0, 0])
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.joinAll(fibers)
        expect(starts).toEqual([0, 100, 200, 334])
      }))

    it.effect("fractional emission intervals: every wait is rounded up, never down", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ service: "rl-frac", rate: 3, burst: 1 })
        const { fibers, starts } = yield* arrivals(limiter, [0, 0, 0, 0])
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.joinAll(fibers)
        expect(starts).toEqual([0, 334, 668, 1002])
      }))

    it.effect("each waiting caller sleeps once, for exactly its computed delay", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ service: "rl-sleeps", rate: 1, burst: 1 })
        const { fibers } = yield* arrivals(limiter, [0, 0, 0])
        yield* settle
        const sleeps = Array.from(yield* TestClock.sleeps()).sort((a, b) => a - b)
        expect(sleeps).toEqual([1000, 2000])
        expect(yield* limiter.stats).toEqual({ tokens: 0, waiting: 2 })
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.joinAll(fibers)
      }))

    it.effect("maxWait: a call that would wait longer is refused with RateLimited", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ service: "rl-maxwait", rate: 1, maxWait: "1.5 seconds" })
        const { fibers } = yield* arrivals(limiter, [0, 0])
        yield* settle
        const exit = yield* Effect.exit(limiter.protect(Effect.void))
        const error = failureOf(exit)
        expect(error).toBeInstanceOf(Errors.RateLimited)
        expect(Duration.toMillis((error as Errors.RateLimited).retryAfter!)).toBe(2000)
        // The refused call took no slot: the next one waits 2 s, within maxWait... once the clock has moved.
        yield* TestClock.adjust(500)
        const { fibers: later, starts } = yield* arrivals(limiter, [0])
        yield* TestClock.adjust("3 seconds")
        yield* Fiber.joinAll(later)
        expect(starts).toEqual([2000])
        yield* TestClock.adjust("3 seconds")
        yield* Fiber.joinAll(fibers)
      }))

    it.effect("an interrupted waiter gives its slot back to the next caller", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ service: "rl-interrupt", rate: 1, burst: 1 })
        yield* limiter.protect(Effect.void)
        const waiter = yield* Effect.fork(limiter.protect(Effect.void))
        yield* settle
        yield* Fiber.interrupt(waiter)
        expect(yield* limiter.stats).toEqual({ tokens: 0, waiting: 0 })
        const { fibers, starts } = yield* arrivals(limiter, [0])
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.joinAll(fibers)
        expect(starts).toEqual([1000])
      }))

    it("never fails in wait mode without maxWait (by type)", () => {
      const check = (limiter: RateLimiter.RateLimiter<never>) => {
        const protectedCall: Effect.Effect<number> = limiter.protect(Effect.succeed(1))
        return protectedCall
      }
      const made: Effect.Effect<RateLimiter.RateLimiter<never>, Errors.InvalidPolicy> = RateLimiter.make({ rate: 1 })
      const rejecting: Effect.Effect<RateLimiter.RateLimiter<Errors.RateLimited>, Errors.InvalidPolicy> = RateLimiter
        .make({ rate: 1, onExceeded: "reject" })
      expect([check, made, rejecting]).toHaveLength(3)
    })
  })

  it.effect.prop(
    "random arrivals: FIFO, spacing kept, and no window of length interval holds more than burst + rate",
    {
      rate: fc.integer({ min: 1, max: 5 }),
      burst: fc.integer({ min: 1, max: 5 }),
      spacing: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 })),
      times: fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 40 })
    },
    ({ burst, rate, spacing, times }) =>
      Effect.gen(function*() {
        const interval = 1000
        const limiter = yield* RateLimiter.make({ service: "rl-prop", rate, burst, interval, spacing })
        const { fibers, starts } = yield* arrivals(limiter, times)
        yield* TestClock.adjust("1 hour")
        yield* Fiber.joinAll(fibers)
        const started = starts as Array<number>
        for (let i = 0; i < times.length; i++) {
          expect(started[i]).toBeGreaterThanOrEqual(times[i]!)
          for (let j = 0; j < times.length; j++) {
            if (times[i]! < times[j]!) expect(started[i]).toBeLessThanOrEqual(started[j]!)
          }
        }
        const sorted = [...started].sort((a, b) => a - b)
        for (let i = 0; i < sorted.length; i++) {
          const inWindow = sorted.filter((time) => time >= sorted[i]! && time <= sorted[i]! + interval).length
          expect(inWindow).toBeLessThanOrEqual(burst + rate)
          if (i > 0) expect(sorted[i]! - sorted[i - 1]!).toBeGreaterThanOrEqual(spacing)
        }
      }),
    { timeout: 30_000, fastCheck: { numRuns: 100 } }
  )

  describe("rejecting", () => {
    it.effect("onExceeded: reject fails at once with Errors.RateLimited, retryAfter until the next slot", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ service: "github", rate: 1, onExceeded: "reject" })
        yield* limiter.protect(Effect.void)
        yield* TestClock.adjust(250)
        const error = yield* Effect.flip(limiter.protect(Effect.void))
        expect(error).toBeInstanceOf(Errors.RateLimited)
        expect(error).toMatchObject({ service: "github", detail: "local rate limiter" })
        expect(Duration.toMillis(error.retryAfter!)).toBe(750)
        expect(error.message).toBe("rate limited from github: local rate limiter; retry after 750ms")
        expect(RateLimiter.isRejection(error)).toBe(true)
        expect(RateLimiter.isRejection(new Errors.RateLimited({ service: "github", status: 429 }))).toBe(false)
        const rejections = Metric.tagged(Metrics.rateLimiterRejections, "service", "github")
        expect(yield* counterValue(rejections)).toBe(1)
      }))

    it.effect("a Bulwark retry honours the limiter's retryAfter", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ service: "rl-retry", rate: 1, onExceeded: "reject" })
        const policy = yield* Retry.policy({ maxAttempts: 3, base: "10 millis", jitter: "none" })
        const starts: Array<number> = []
        const call = limiter.protect(
          Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => starts.push(now)))
        )
        const fiber = yield* Effect.fork(Effect.all([call, Retry.retry(call, policy)]))
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(fiber)
        expect(starts).toEqual([0, 1000])
      }))
  })

  describe("keyed", () => {
    it.effect("one bucket per key", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.keyed({ service: "rl-keyed", rate: 1, burst: 1 })
        const starts: Record<string, Array<number>> = { a: [], b: [] }
        const call = (key: "a" | "b") =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => starts[key]!.push(now))).pipe(
            limiter.protect(key)
          )
        const fiber = yield* Effect.fork(Effect.all([call("a"), call("a"), call("b"), call("b")], { concurrency: 4 }))
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(fiber)
        expect(starts).toEqual({ a: [0, 1000], b: [0, 1000] })
        expect(yield* limiter.stats("a")).toEqual({ tokens: 1, waiting: 0 })
        expect(yield* limiter.stats("never-used")).toEqual({ tokens: 1, waiting: 0 })
      }))

    it.effect("refilled buckets are forgotten as keys pile up", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.keyed<number>({ service: "rl-sweep", rate: 1 })
        yield* Effect.forEach(Array.from({ length: 1500 }, (_, i) => i), (key) => limiter.protect(key)(Effect.void))
        expect(yield* limiter.size).toBe(1500)
        yield* TestClock.adjust("2 seconds")
        yield* Effect.forEach(Array.from({ length: 600 }, (_, i) => 10_000 + i), (key) =>
          limiter.protect(key)(Effect.void))
        expect(yield* limiter.size).toBeLessThan(1500)
        // A busy bucket is kept: its debt must not be forgotten.
        const busy = yield* RateLimiter.keyed<number>({ service: "rl-sweep-busy", rate: 1 })
        yield* busy.protect(0)(Effect.void)
        yield* Effect.forEach(
          Array.from({ length: 1500 }, (_, i) =>
            i + 1),
          (key) => busy.protect(key)(Effect.void)
        )
        expect((yield* busy.stats(0)).tokens).toBe(0)
      }))
  })

  it.effect("the wait histogram records every admission", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ service: "rl-hist", spacing: 200 })
      const { fibers } = yield* arrivals(limiter, [0, 0])
      yield* TestClock.adjust(200)
      yield* Fiber.joinAll(fibers)
      const state = yield* Metric.value(Metric.tagged(Metrics.rateLimiterWaitSeconds, "service", "rl-hist"))
      expect(state.count).toBe(2)
      expect(state.sum).toBeCloseTo(0.2)
    }))

  describe("bad configuration", () => {
    const field = (options: RateLimiter.Options) =>
      Effect.map(Effect.flip(RateLimiter.make(options)), (error) => error.field)

    it.effect("names the field", () =>
      Effect.gen(function*() {
        expect(yield* field({ rate: 0 })).toBe("rate")
        expect(yield* field({ rate: -1 })).toBe("rate")
        expect(yield* field({ rate: Infinity })).toBe("rate")
        expect(yield* field({})).toBe("rate")
        expect(yield* field({ rate: 1, burst: 0 })).toBe("burst")
        expect(yield* field({ rate: 1, burst: 1.5 })).toBe("burst")
        expect(yield* field({ rate: 1, interval: 0 })).toBe("interval")
        expect(yield* field({ rate: 1, interval: "-1 second" })).toBe("interval")
        expect(yield* field({ spacing: -5 })).toBe("spacing")
        expect(yield* field({ spacing: 100, burst: 2 })).toBe("burst")
        expect(yield* field({ rate: 1, onExceeded: "drop" as "wait" })).toBe("onExceeded")
        expect(yield* field({ rate: 1, onExceeded: "reject", maxWait: 100 })).toBe("maxWait")
        expect(yield* field({ rate: 1, maxWait: -1 })).toBe("maxWait")
        const error = yield* Effect.flip(RateLimiter.make({ rate: 0 }))
        expect(error.message).toBe("invalid rate-limiter option rate = 0: expected a finite number > 0")
        expect(Either.isLeft(Either.right(1))).toBe(false)
      }))
  })
})
