import * as Errors from "@bulwark/core/Errors"
import * as Metrics from "@bulwark/core/Metrics"
import * as Retry from "@bulwark/core/Retry"
import * as RetryAfterGate from "@bulwark/core/RetryAfterGate"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Metric, Option, Random, TestClock } from "effect"
import { counterValue, settle } from "./utils/concurrency.js"

const busy = (seconds: number) =>
  new Errors.RateLimited({ service: "orpheus", status: 429, detail: "GPU busy", retryAfter: Duration.seconds(seconds) })

/** A service whose n-th call fails with `failures[n]` if there is one, else succeeds; records call times. */
const service = (failures: Record<number, unknown> = {}) => {
  const calls: Array<number> = []
  const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const index = calls.length
    calls.push(now)
    return index in failures ? Effect.fail(failures[index] as Errors.RateLimited) : Effect.succeed(index)
  })
  return { calls, call }
}

describe("RetryAfterGate", () => {
  it.effect("10 callers: the first gets 429 with Retry-After 30 s, nobody calls again before 30 s", () =>
    Effect.gen(function*() {
      const gate = yield* RetryAfterGate.make({ service: "orpheus-10" })
      const policy = yield* Retry.policy({ maxAttempts: 3, base: "1 second", jitter: "none" })
      const orpheus = service({ 0: busy(30) })
      const caller = (startAt: number) =>
        Effect.sleep(startAt).pipe(Effect.zipRight(gate.protect(orpheus.call).pipe(Retry.retry(policy))))
      // One caller first, the nine others arriving over the next 9 seconds.
      const fibers = yield* Effect.forEach([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], (i) => Effect.fork(caller(i * 1000)))
      yield* TestClock.adjust("29999 millis")
      expect(orpheus.calls).toEqual([0])
      yield* TestClock.adjust(1)
      yield* Fiber.joinAll(fibers)
      expect(orpheus.calls).toEqual([0, ...Array(10).fill(30_000)])
      const waits = Metric.tagged(Metrics.retryAfterGateWaits, "service", "orpheus-10")
      // The nine latecomers waited at the gate; the first caller's retry slept in the retry policy.
      expect(yield* counterValue(waits)).toBe(9)
    }))

  it.effect("the gate stays open for failures without a hint, and for successes", () =>
    Effect.gen(function*() {
      const gate = yield* RetryAfterGate.make({ service: "gate-nohint" })
      const svc = service({ 0: new Errors.ServerError({ status: 500 }) })
      yield* Effect.exit(gate.protect(svc.call))
      yield* gate.protect(svc.call)
      expect(yield* gate.stats).toEqual({ retryAfter: Option.none(), waiting: 0 })
      expect(svc.calls).toEqual([0, 0])
    }))

  it.effect("a hinted failure passes through unchanged; closeOn can ignore it", () =>
    Effect.gen(function*() {
      const gate = yield* RetryAfterGate.make<Errors.RateLimited | Errors.Unavailable>({
        service: "gate-closeon",
        closeOn: (error) => error._tag === "Unavailable"
      })
      const error = busy(30)
      expect(yield* Effect.flip(gate.protect(Effect.fail(error)))).toBe(error)
      expect((yield* gate.stats).retryAfter).toEqual(Option.none())
      yield* Effect.flip(gate.protect(Effect.fail(new Errors.Unavailable({ retryAfter: Duration.seconds(5) }))))
      expect((yield* gate.stats).retryAfter).toEqual(Option.some(Duration.millis(5000)))
    }))

  it.effect("maxWait: a caller that would wait longer fails at once with GateClosed", () =>
    Effect.gen(function*() {
      const gate = yield* RetryAfterGate.make({ service: "gate-maxwait", maxWait: "10 seconds" })
      const svc = service({ 0: busy(30) })
      yield* Effect.exit(gate.protect(svc.call))
      yield* TestClock.adjust("5 seconds")
      const error = (yield* Effect.flip(gate.protect(svc.call))) as RetryAfterGate.GateClosed
      expect(error).toBeInstanceOf(RetryAfterGate.GateClosed)
      expect(error).toMatchObject({ service: "gate-maxwait" })
      expect(Duration.toMillis(error.retryAfter)).toBe(25_000)
      expect(error.message).toBe("gate-maxwait asked callers to wait; the gate opens in 25s")
      expect(svc.calls).toEqual([0])
      // Within maxWait, the caller waits instead.
      yield* TestClock.adjust("15 seconds")
      const fiber = yield* Effect.fork(gate.protect(svc.call))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect(svc.calls).toEqual([0, 30_000])
    }))

  it.effect("a later, longer hint keeps sleeping callers asleep until it runs out", () =>
    Effect.gen(function*() {
      const gate = yield* RetryAfterGate.make({ service: "gate-extend" })
      const svc = service({ 0: busy(30) })
      yield* Effect.exit(gate.protect(svc.call))
      const waiter = yield* Effect.fork(gate.protect(svc.call))
      yield* settle
      expect((yield* gate.stats).waiting).toBe(1)
      // At 10 s, the service says "busy for 40 s" to someone else (a rate-limit header on another call).
      yield* TestClock.adjust("10 seconds")
      yield* gate.closeFor("40 seconds")
      yield* TestClock.adjust("20 seconds")
      expect(svc.calls).toEqual([0])
      yield* TestClock.adjust("20 seconds")
      yield* Fiber.join(waiter)
      expect(svc.calls).toEqual([0, 50_000])
      // A shorter hint never shortens the closing.
      yield* gate.closeFor("1 minute")
      yield* gate.closeFor("1 second")
      expect((yield* gate.stats).retryAfter).toEqual(Option.some(Duration.minutes(1)))
      yield* gate.open
      expect((yield* gate.stats).retryAfter).toEqual(Option.none())
    }))

  it.effect("spread: waiters wake at random offsets within the spread after the gate opens", () =>
    Effect.gen(function*() {
      const gate = yield* RetryAfterGate.make({ service: "gate-spread", spread: "2 seconds" })
      const svc = service({ 0: busy(30) })
      yield* Effect.exit(gate.protect(svc.call))
      const fibers = yield* Effect.forEach(Array(20), () => Effect.fork(gate.protect(svc.call)))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.joinAll(fibers)
      const later = svc.calls.slice(1)
      expect(later).toHaveLength(20)
      for (const time of later) {
        expect(time).toBeGreaterThanOrEqual(30_000)
        expect(time).toBeLessThan(32_000)
      }
      expect(new Set(later).size).toBeGreaterThan(1)
    }).pipe(Effect.withRandom(Random.make("spread"))))

  it.effect("the open path makes the call right away", () =>
    Effect.gen(function*() {
      const gate = yield* RetryAfterGate.make({ service: "gate-open" })
      expect(yield* gate.protect(Effect.succeed(42))).toBe(42)
      expect(yield* gate.stats).toEqual({ retryAfter: Option.none(), waiting: 0 })
    }))

  it.effect("bad configuration names the field", () =>
    Effect.gen(function*() {
      const field = (options: RetryAfterGate.Options) =>
        Effect.map(Effect.flip(RetryAfterGate.make(options)), (error) => error.field)
      expect(yield* field({ maxWait: -1 })).toBe("maxWait")
      expect(yield* field({ spread: "-1 second" })).toBe("spread")
      expect(yield* field({ spread: Infinity })).toBe("spread")
      expect(yield* field({ closeOn: true as never })).toBe("closeOn")
      expect(yield* field({ service: "" })).toBe("service")
    }))

  it.effect.each(["garbage", -5, Number.NaN, "-5 seconds", Infinity] as const)(
    "closeFor(%s) is refused with a typed error and leaves the gate open",
    (duration) =>
      Effect.gen(function*() {
        const gate = yield* RetryAfterGate.make({ service: "headers" })
        const error = yield* Effect.flip(gate.closeFor(duration as Duration.DurationInput))
        expect(error).toMatchObject({ _tag: "InvalidPolicy", field: "closeFor" })
        expect((yield* gate.stats).retryAfter).toEqual(Option.none())
      })
  )
})
