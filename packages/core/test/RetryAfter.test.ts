import { Backoff, Errors, RetryAfter } from "@bulwark/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, FastCheck as fc, Schedule } from "effect"
import { relative, runOnTestClock, scripted } from "./utils/scripted.js"

describe("RetryAfter", () => {
  it("reads a finite Duration in retryAfter from any object, nothing else", () => {
    expect(RetryAfter.hint(new Errors.RateLimited({ retryAfter: Duration.seconds(3) }))).toEqual(Duration.seconds(3))
    expect(RetryAfter.hint({ _tag: "Mine", retryAfter: Duration.millis(250) })).toEqual(Duration.millis(250))
    expect(RetryAfter.hint(new Errors.RateLimited({}))).toBeUndefined()
    expect(RetryAfter.hint({ retryAfter: 3000 })).toBeUndefined()
    expect(RetryAfter.hint({ retryAfter: Duration.infinity })).toBeUndefined()
    expect(RetryAfter.hint("RateLimited")).toBeUndefined()
    expect(RetryAfter.hint(null)).toBeUndefined()
  })

  it.prop(
    "floor waits at least both, override exactly the hint, ignore the backoff; never before the hint",
    [fc.integer({ min: 0, max: 1e7 }), fc.option(fc.integer({ min: 0, max: 1e12 }), { nil: undefined })],
    ([backoff, hintNanos]) => {
      const hint = hintNanos === undefined ? undefined : Duration.nanos(BigInt(hintNanos))
      const hintMillis = hint === undefined ? 0 : Duration.toMillis(hint)
      const floor = RetryAfter.delayMillis("floor", backoff, hint)
      const override = RetryAfter.delayMillis("override", backoff, hint)
      expect(floor).toBeGreaterThanOrEqual(backoff)
      expect(floor).toBeGreaterThanOrEqual(hintMillis)
      expect(override).toBe(hint === undefined ? backoff : Math.ceil(hintMillis))
      expect(RetryAfter.delayMillis("ignore", backoff, hint)).toBe(backoff)
      for (const delay of [floor, override]) {
        expect(Number.isInteger(delay)).toBe(true)
        expect(delay - hintMillis).toBeLessThan(hint === undefined ? Infinity : Math.max(1, backoff - hintMillis + 1))
      }
    }
  )

  it.effect("honor makes any schedule wait the hint under Effect.retry", () =>
    Effect.gen(function*() {
      const backoff = Either.getOrThrow(Backoff.exponential({ base: "1 second" }))
      const schedule = backoff.pipe(RetryAfter.honor("floor"), Schedule.intersect(Schedule.recurs(3)))
      const { calls, effect } = scripted([
        new Errors.RateLimited({ retryAfter: Duration.seconds(10) }),
        new Errors.ServerError({}),
        new Errors.Unavailable({ retryAfter: Duration.millis(1500) })
      ])
      yield* runOnTestClock(Effect.retry(effect, schedule))
      // 10 s hint over a 1 s backoff, then the 2 s backoff, then 4 s backoff over a 1.5 s hint.
      expect(relative(calls)).toEqual([0, 10_000, 12_000, 16_000])
    }))

  it.effect("honor('override') waits the hint even below the backoff", () =>
    Effect.gen(function*() {
      const schedule = Schedule.spaced("5 seconds").pipe(
        RetryAfter.honor("override"),
        Schedule.intersect(Schedule.recurs(1))
      )
      const { calls, effect } = scripted([new Errors.RateLimited({ retryAfter: Duration.millis(200) })])
      yield* runOnTestClock(Effect.retry(effect, schedule))
      expect(relative(calls)).toEqual([0, 200])
    }))
})
