import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Exit, Fiber, Random, TestClock } from "effect"
import * as VirtualTime from "../src/VirtualTime.js"

/** Forks one fiber per delay; each records its name and the time it woke. */
const sleepers = (delays: ReadonlyArray<readonly [string, number]>) =>
  Effect.gen(function*() {
    const woke: Array<string> = []
    const fibers = yield* Effect.forEach(delays, ([name, millis]) =>
      Effect.fork(
        Effect.zipRight(
          Effect.sleep(millis),
          Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => woke.push(`${name}@${now}`)))
        )
      ))
    return { woke, fibers }
  })

const value = <A, E>(outcome: VirtualTime.Outcome<A, E>): A => {
  if (Exit.isFailure(outcome.exit)) throw new Error(String(outcome.exit.cause))
  return outcome.exit.value
}

describe("VirtualTime", () => {
  it("wakes sleepers in time order and jumps the clock to each", () => {
    const outcome = VirtualTime.run(Effect.gen(function*() {
      const { fibers, woke } = yield* sleepers([["c", 300], ["a", 100], ["day", 86_400_000 - 1], ["b", 200]])
      yield* Fiber.joinAll(fibers)
      return woke
    }))
    expect(value(outcome)).toEqual(["a@100", "b@200", "c@300", "day@86399999"])
    expect(outcome.now).toBe(86_399_999)
    expect(outcome.sleeps).toBe(4)
  })

  it.effect("wakes sleepers due at one instant in TestClock's order", () =>
    Effect.gen(function*() {
      const delays = [["a", 100], ["b", 100], ["c", 50], ["d", 100]] as const
      const { fibers, woke } = yield* sleepers(delays)
      yield* TestClock.adjust(100)
      yield* Fiber.joinAll(fibers)
      const virtual = VirtualTime.run(
        Effect.flatMap(sleepers(delays), ({ fibers, woke }) => Effect.as(Fiber.joinAll(fibers), woke))
      )
      expect(woke).toEqual(["c@50", "d@100", "b@100", "a@100"])
      expect(value(virtual)).toEqual(woke)
    }))

  it("reads the virtual time through every Clock method", () => {
    const outcome = VirtualTime.run(
      Effect.zipRight(
        Effect.sleep("1500 millis"),
        Effect.all([
          Clock.currentTimeMillis,
          Clock.currentTimeNanos,
          Effect.clockWith((clock) => Effect.succeed(clock.unsafeCurrentTimeMillis()))
        ])
      ),
      { start: 1000 }
    )
    expect(value(outcome)).toEqual([2500, 2_500_000_000n, 2500])
  })

  it("returns at once from a sleep of zero", () => {
    const outcome = VirtualTime.run(Effect.zipRight(Effect.sleep(0), Clock.currentTimeMillis))
    expect(value(outcome)).toBe(0)
    expect(outcome.sleeps).toBe(0)
  })

  it("forgets the sleep of an interrupted fiber", () => {
    const outcome = VirtualTime.run(Effect.gen(function*() {
      const long = yield* Effect.fork(Effect.sleep("1 hour"))
      yield* Effect.sleep(10)
      yield* Fiber.interrupt(long)
      return yield* Clock.currentTimeMillis
    }))
    expect(value(outcome)).toBe(10)
    expect(outcome.now).toBe(10)
  })

  it("carries failures in the exit", () => {
    const outcome = VirtualTime.run(Effect.zipRight(Effect.sleep(5), Effect.fail("boom")))
    expect(outcome.exit).toEqual(Exit.fail("boom"))
  })

  it("refuses a deadlock and a run past its end", () => {
    expect(() => VirtualTime.run(Effect.flatMap(Deferred.make<void>(), Deferred.await))).toThrow(/deadlock/)
    expect(() => VirtualTime.run(Effect.sleep("2 days"))).toThrow(/past 86400000 ms/)
    expect(() => VirtualTime.run(Effect.sleep("2 hours"), { until: 3_600_000 })).toThrow(/still running at 7200000/)
  })

  it("runs thousands of seeded random sleeps, the same every time", () => {
    // A seeded Random is stateful: each run gets its own.
    const program = Effect.suspend(() =>
      Effect.gen(function*() {
        const woke: Array<number> = []
        const fibers = yield* Effect.forEach(Array.from({ length: 5000 }), () =>
          Effect.fork(Effect.flatMap(Random.nextIntBetween(1, 60_000), (millis) =>
            Effect.zipRight(
              Effect.sleep(millis),
              Effect.flatMap(Clock.currentTimeMillis, (now) =>
                Effect.sync(() => woke.push(now)))
            ))))
        yield* Fiber.joinAll(fibers)
        return woke
      }).pipe(Effect.withRandom(Random.make(7)))
    )
    const first = value(VirtualTime.run(program))
    expect(first).toHaveLength(5000)
    expect(first).toEqual([...first].sort((a, b) => a - b))
    expect(value(VirtualTime.run(program))).toEqual(first)
  })
})
