import * as Classify from "@bulwark/core/Classify"
import * as Metrics from "@bulwark/core/Metrics"
import * as Retry from "@bulwark/core/Retry"
import * as Timeout from "@bulwark/core/Timeout"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, FastCheck as fc, Fiber, FiberRef, Metric, Option, TestClock } from "effect"
import { counterValue, settle } from "./utils/concurrency.js"
import { failureOf } from "./utils/scripted.js"

/** Sleeps `millis`, recording whether and when it was interrupted. */
const slow = (millis: number) => {
  const seen = { interruptedAt: undefined as number | undefined, finished: false }
  const effect = Effect.sleep(millis).pipe(
    Effect.zipRight(Effect.sync(() => (seen.finished = true))),
    Effect.as("done" as const),
    Effect.onInterrupt(() =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => (seen.interruptedAt = now)))
    )
  )
  return { seen, effect }
}

/** The sleeps in progress, by duration, under a clock that counts them (interrupted sleeps leave). */
const sleeping: Array<number> = []
/** Every sleep started, by duration. */
const started: Array<number> = []
const withSleepsTracked = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.clockWith((base) =>
    Effect.withClock(
      effect,
      // The TestClock's own methods (adjust, ...) stay reachable through the prototype.
      Object.assign(Object.create(base) as Clock.Clock, {
        sleep: (duration: Duration.Duration) =>
          Effect.acquireUseRelease(
            Effect.sync(() => {
              started.push(Duration.toMillis(duration))
              sleeping.push(Duration.toMillis(duration))
            }),
            () => base.sleep(duration),
            () => Effect.sync(() => sleeping.splice(sleeping.indexOf(Duration.toMillis(duration)), 1))
          )
      })
    )
  )

describe("Timeout", () => {
  describe("attempt", () => {
    it.effect("interrupts the call at the deadline and fails with AttemptTimedOut", () =>
      Effect.gen(function*() {
        const timeout = yield* Timeout.attempt("5 seconds", { service: "llm" })
        const call = slow(10_000)
        const fiber = yield* Effect.fork(timeout.protect(call.effect))
        yield* TestClock.adjust(4999)
        expect(fiber.unsafePoll()).toBeNull()
        yield* TestClock.adjust(1)
        const error = failureOf(yield* Fiber.await(fiber))
        expect(error).toBeInstanceOf(Timeout.AttemptTimedOut)
        expect(error).toMatchObject({ service: "llm", after: Duration.millis(5000) })
        expect((error as Timeout.AttemptTimedOut).message).toBe("attempt on llm timed out after 5s")
        expect(call.seen).toEqual({ interruptedAt: 5000, finished: false })
      }))

    it.effect("a call in time returns its result; failures and defects pass through unchanged", () =>
      Effect.gen(function*() {
        const timeout = yield* Timeout.attempt("5 seconds")
        const call = slow(4000)
        const fiber = yield* Effect.fork(timeout.protect(call.effect))
        yield* TestClock.adjust(4000)
        expect(yield* Fiber.join(fiber)).toBe("done")
        expect(yield* Effect.exit(timeout.protect(Effect.fail("boom")))).toEqual(Exit.fail("boom"))
        expect(yield* Effect.exit(timeout.protect(Effect.die("bug")))).toEqual(Exit.die("bug"))
        // Nothing fires later for calls that ended.
        yield* TestClock.adjust("1 minute")
        expect(call.seen.interruptedAt).toBeUndefined()
      }))

    it.effect("no timer is left pending once the last call has ended (it would keep a process alive)", () =>
      Effect.gen(function*() {
        const timeout = yield* Timeout.attempt("30 seconds")
        const fibers = yield* Effect.forEach(
          [100, 200, 300],
          (millis) => Effect.fork(timeout.protect(Effect.sleep(millis)))
        )
        yield* settle
        // Three calls, one timer: the watchdog's, besides the calls' own sleeps.
        expect([...sleeping].sort((a, b) => a - b)).toEqual([100, 200, 300, 30_000])
        yield* TestClock.adjust(300)
        yield* Fiber.joinAll(fibers)
        yield* settle
        expect(sleeping).toEqual([])
        yield* timeout.protect(Effect.void)
        yield* settle
        expect(sleeping).toEqual([])
      }).pipe(withSleepsTracked))

    it.effect("FiberRef changes made by the call are kept, as with Effect.timeout", () =>
      Effect.gen(function*() {
        const ref = FiberRef.unsafeMake(0)
        const timeout = yield* Timeout.attempt("5 seconds")
        yield* timeout.protect(FiberRef.set(ref, 42))
        expect(yield* FiberRef.get(ref)).toBe(42)
      }))

    it.effect("interrupting the caller interrupts the call, and no timeout fires afterwards", () =>
      Effect.gen(function*() {
        const timeout = yield* Timeout.attempt("5 seconds", { service: "to-interrupt" })
        const call = slow(10_000)
        const fiber = yield* Effect.fork(timeout.protect(call.effect))
        yield* TestClock.adjust(1000)
        yield* Fiber.interrupt(fiber)
        expect(call.seen.interruptedAt).toBe(1000)
        yield* TestClock.adjust("1 minute")
        const timeouts = Metric.tagged(Metric.tagged(Metrics.timeouts, "service", "to-interrupt"), "kind", "attempt")
        expect(yield* counterValue(timeouts)).toBe(0)
      }))

    it.effect.prop(
      "many calls at random times: each times out exactly `after` after it started, or ends on its own",
      {
        after: fc.integer({ min: 1, max: 1000 }),
        calls: fc.array(
          fc.record({ at: fc.integer({ min: 0, max: 2000 }), takes: fc.integer({ min: 0, max: 2000 }) }),
          {
            minLength: 1,
            maxLength: 30
          }
        )
      },
      ({ after, calls }) =>
        Effect.gen(function*() {
          const timeout = yield* Timeout.attempt(after, { service: "to-prop" })
          const fibers = yield* Effect.forEach(calls, ({ at, takes }) => {
            const call = slow(takes)
            return Effect.map(
              Effect.fork(Effect.zipRight(Effect.sleep(at), Effect.exit(timeout.protect(call.effect)))),
              (fiber) => ({ at, takes, call, fiber })
            )
          })
          yield* TestClock.adjust("1 hour")
          for (const { at, call, fiber, takes } of fibers) {
            const exit = yield* Fiber.join(fiber)
            if (takes < after) {
              expect(exit).toEqual(Exit.succeed("done"))
            } else if (takes > after) {
              expect(failureOf(exit)).toBeInstanceOf(Timeout.AttemptTimedOut)
              expect(call.seen.interruptedAt).toBe(at + after)
            }
          }
        }),
      { timeout: 30_000, fastCheck: { numRuns: 60 } }
    )

    it.effect("counts timeouts by service and kind", () =>
      Effect.gen(function*() {
        const timeout = yield* Timeout.attempt(100, { service: "to-count" })
        const fiber = yield* Effect.fork(Effect.exit(timeout.protect(Effect.never)))
        yield* TestClock.adjust(100)
        yield* Fiber.join(fiber)
        const timeouts = Metric.tagged(Metric.tagged(Metrics.timeouts, "service", "to-count"), "kind", "attempt")
        expect(yield* counterValue(timeouts)).toBe(1)
      }))
  })

  describe("total", () => {
    it.effect("bounds retries and their sleeps; fails with DeadlineExceeded, a distinct tag", () =>
      Effect.gen(function*() {
        const overall = yield* Timeout.total("11 seconds", { service: "llm" })
        const perCall = yield* Timeout.attempt("3 seconds", { service: "llm" })
        const policy = yield* Retry.policy({
          maxAttempts: 10,
          base: "2 seconds",
          factor: 1,
          jitter: "none",
          retryOn: Classify.tagged("AttemptTimedOut")
        })
        const starts: Array<number> = []
        const call = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => starts.push(now))).pipe(
          Effect.zipRight(Effect.never)
        )
        const fiber = yield* Effect.fork(call.pipe(perCall.protect, Retry.retry(policy), overall.protect))
        yield* TestClock.adjust("1 minute")
        const error = failureOf(yield* Fiber.await(fiber))
        expect(error).toBeInstanceOf(Timeout.DeadlineExceeded)
        expect(error).toMatchObject({ _tag: "DeadlineExceeded", service: "llm", after: Duration.seconds(11) })
        expect((error as Timeout.DeadlineExceeded).message).toBe("deadline for llm exceeded after 11s")
        // Attempts at 0 and 5 s time out after 3 s each, with 2 s sleeps between; the third is cut at 11 s.
        expect(starts).toEqual([0, 5000, 10_000])
      }))

    it.effect("sets currentDeadline for its scope; remaining counts down on the clock", () =>
      Effect.gen(function*() {
        const overall = yield* Timeout.total("10 seconds")
        expect(yield* Timeout.remaining).toEqual(Option.none())
        const seen = yield* overall.protect(
          Effect.gen(function*() {
            const deadline = yield* FiberRef.get(Timeout.currentDeadline)
            const first = yield* Timeout.remaining
            yield* Effect.sleep("4 seconds")
            return { deadline, first, later: yield* Timeout.remaining }
          })
        ).pipe(Effect.fork, Effect.tap(() => TestClock.adjust("4 seconds")), Effect.flatMap(Fiber.join))
        expect(seen).toEqual({
          deadline: Option.some(10_000),
          first: Option.some(Duration.seconds(10)),
          later: Option.some(Duration.seconds(6))
        })
        expect(yield* FiberRef.get(Timeout.currentDeadline)).toEqual(Option.none())
      }))

    it.effect("nested: the earlier deadline wins", () =>
      Effect.gen(function*() {
        const outer = yield* Timeout.total("5 seconds", { service: "outer" })
        const inner = yield* Timeout.total("1 minute", { service: "inner" })
        const tight = yield* Timeout.total("2 seconds", { service: "tight" })
        const loose = outer.protect(
          inner.protect(Effect.zipRight(Effect.sleep("1 second"), FiberRef.get(Timeout.currentDeadline)))
        )
        const fiber = yield* Effect.fork(loose)
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(fiber)).toEqual(Option.some(5000))
        const cut = yield* Effect.fork(Effect.exit(outer.protect(inner.protect(Effect.never))))
        yield* TestClock.adjust("5 seconds")
        expect(failureOf(yield* Fiber.join(cut))).toMatchObject({ _tag: "DeadlineExceeded", service: "outer" })
        const cutInside = yield* Effect.fork(Effect.exit(outer.protect(tight.protect(Effect.never))))
        yield* TestClock.adjust("2 seconds")
        expect(failureOf(yield* Fiber.join(cutInside))).toMatchObject({ _tag: "DeadlineExceeded", service: "tight" })
      }))

    it.effect("an attempt under a nearer deadline fails as the deadline", () =>
      Effect.gen(function*() {
        const overall = yield* Timeout.total("2 seconds", { service: "to-near" })
        const perCall = yield* Timeout.attempt("30 seconds", { service: "to-near" })
        const fiber = yield* Effect.fork(Effect.exit(overall.protect(perCall.protect(Effect.never))))
        yield* settle
        yield* TestClock.adjust("2 seconds")
        expect(failureOf(yield* Fiber.join(fiber))).toBeInstanceOf(Timeout.DeadlineExceeded)
      }))
  })

  describe("bound", () => {
    it.effect("sets the deadline without a fiber; an attempt inside enforces it, failing as the total", () =>
      Effect.gen(function*() {
        const overall = yield* Timeout.total("5 seconds", { service: "bound" })
        const perCall = yield* Timeout.attempt("3 seconds", { service: "bound" })
        const seen = yield* overall.bound(FiberRef.get(Timeout.currentDeadline))
        expect(seen).toEqual(Option.some(5000))
        expect(yield* FiberRef.get(Timeout.currentDeadline)).toEqual(Option.none())
        // An attempt started at once ends at its own 3 s.
        const first = yield* Effect.fork(Effect.exit(overall.bound(perCall.protect(Effect.never))))
        yield* TestClock.adjust("3 seconds")
        expect(failureOf(yield* Fiber.join(first))).toBeInstanceOf(Timeout.AttemptTimedOut)
        // Bound at 4 s (deadline 9 s), an attempt started at 7 s would end at 10 s: the deadline comes first.
        yield* TestClock.adjust("1 second")
        const late = yield* Effect.fork(
          Effect.exit(overall.bound(Effect.zipRight(Effect.sleep("3 seconds"), perCall.protect(Effect.never))))
        )
        yield* TestClock.adjust(4999)
        expect(late.unsafePoll()).toBeNull()
        yield* TestClock.adjust(1)
        const error = failureOf(yield* Fiber.join(late))
        expect(error).toBeInstanceOf(Timeout.DeadlineExceeded)
        expect(error).toMatchObject({ service: "bound", after: Duration.seconds(5) })
        expect(yield* FiberRef.get(Timeout.currentDeadline)).toEqual(Option.none())
      }))

    it.effect("an interrupted bound still restores the deadline before finalizers run", () =>
      Effect.gen(function*() {
        const overall = yield* Timeout.total("1 second", { service: "bound" })
        let seenInRelease: Option.Option<number> | undefined
        const fiber = yield* Effect.fork(
          Effect.acquireUseRelease(
            Effect.void,
            () => overall.bound(Effect.never),
            () => Effect.map(FiberRef.get(Timeout.currentDeadline), (deadline) => void (seenInRelease = deadline))
          )
        )
        yield* TestClock.adjust(10)
        yield* Fiber.interrupt(fiber)
        expect(seenInRelease).toEqual(Option.none())
      }))

    it.effect("enforce: without an attempt timeout, the call is cut at the bound deadline", () =>
      Effect.gen(function*() {
        const overall = yield* Timeout.total("2 seconds", { service: "enforced" })
        expect(yield* overall.enforce(Effect.succeed(1))).toBe(1)
        const call = slow(10_000)
        const fiber = yield* Effect.fork(Effect.exit(overall.bound(overall.enforce(call.effect))))
        yield* TestClock.adjust("2 seconds")
        expect(failureOf(yield* Fiber.join(fiber))).toMatchObject({ _tag: "DeadlineExceeded", service: "enforced" })
        expect(call.seen.interruptedAt).toBe(2000)
        // Under a forking total, an attempt leaves the earlier deadline to it.
        const forking = yield* Timeout.total("1 second", { service: "forking" })
        const cut = yield* Effect.fork(Effect.exit(overall.bound(forking.protect(overall.enforce(Effect.never)))))
        yield* TestClock.adjust("1 second")
        expect(failureOf(yield* Fiber.join(cut))).toMatchObject({ _tag: "DeadlineExceeded", service: "forking" })
      }))

    it.effect("a call due before the watchdog wakes gets a timer of its own", () =>
      Effect.gen(function*() {
        const overall = yield* Timeout.total("2 seconds", { service: "near" })
        const perCall = yield* Timeout.attempt("30 seconds", { service: "near" })
        const far = yield* Effect.fork(Effect.exit(perCall.protect(Effect.never)))
        yield* settle
        const near = yield* Effect.fork(Effect.exit(overall.bound(perCall.protect(Effect.never))))
        yield* TestClock.adjust("2 seconds")
        expect(failureOf(yield* Fiber.join(near))).toMatchObject({ _tag: "DeadlineExceeded", service: "near" })
        expect(far.unsafePoll()).toBeNull()
        yield* TestClock.adjust("28 seconds")
        expect(failureOf(yield* Fiber.join(far))).toBeInstanceOf(Timeout.AttemptTimedOut)
      }))

    it.effect("sequential calls share one timer, and none is left after the last one", () =>
      Effect.gen(function*() {
        const overall = yield* Timeout.total("2 minutes")
        const perCall = yield* Timeout.attempt("30 seconds")
        started.length = 0
        yield* Effect.forEach(Array.from({ length: 20 }), () => overall.bound(perCall.protect(Effect.yieldNow())))
        expect(started).toEqual([30_000])
        yield* settle
        expect(sleeping).toEqual([])
        // A call that ends without suspending needs no timer at all.
        started.length = 0
        expect(yield* overall.bound(perCall.protect(Effect.succeed(1)))).toBe(1)
        expect(started).toEqual([])
      }).pipe(withSleepsTracked))
  })

  it.effect("an infinite timeout is no timeout", () =>
    Effect.gen(function*() {
      const never = yield* Timeout.total(Duration.infinity)
      const fiber = yield* Effect.fork(never.protect(Effect.as(Effect.sleep("1 day"), 1)))
      yield* TestClock.adjust("1 day")
      expect(yield* Fiber.join(fiber)).toBe(1)
      expect(yield* FiberRef.get(Timeout.currentDeadline)).toEqual(Option.none())
    }))

  it.effect("bad configuration names the field", () =>
    Effect.gen(function*() {
      const zero = yield* Effect.flip(Timeout.attempt(0))
      expect(zero).toMatchObject({ _tag: "InvalidPolicy", policy: "attempt-timeout", field: "after" })
      expect(zero.message).toBe("invalid attempt-timeout option after = 0: expected a duration > 0")
      expect((yield* Effect.flip(Timeout.total(-5))).field).toBe("after")
      expect((yield* Effect.flip(Timeout.total("-5 seconds"))).policy).toBe("total-timeout")
      expect((yield* Effect.flip(Timeout.attempt(NaN))).field).toBe("after")
      expect((yield* Effect.flip(Timeout.attempt(1, { service: "" }))).field).toBe("service")
    }))
})
