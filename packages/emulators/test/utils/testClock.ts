import { Chunk, Clock, Effect, TestClock, TestServices } from "effect"

/**
 * Repeats `self` every millisecond of the live clock until `done` holds. Live, because an emulator
 * started in a test runs on the test's TestClock, which only the test moves.
 */
export const pollUntil = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  done: (value: A) => boolean
): Effect.Effect<A, E, R> => {
  const poll: Effect.Effect<A, E, R> = Effect.flatMap(
    self,
    (value) =>
      done(value) ? Effect.succeed(value) : Effect.zipRight(Effect.sleep("1 millis"), Effect.suspend(() => poll))
  )
  return TestServices.provideLive(poll)
}

/**
 * The sleeps pending on the TestClock, as milliseconds from now to their ends, soonest first, once `done`
 * holds for them. A sleep that was interrupted stays in the list until the clock passes its end.
 */
export const pendingSleeps = (done: (fromNow: ReadonlyArray<number>) => boolean) =>
  Effect.gen(function*() {
    const clock = yield* TestClock.testClock()
    const now = yield* Clock.currentTimeMillis
    const fromNow = (ends: Chunk.Chunk<number>) =>
      Chunk.toReadonlyArray(ends).map((end) => end - now).sort((a, b) => a - b)
    return fromNow(yield* pollUntil(clock.sleeps, (ends) => done(fromNow(ends))))
  })

/** The sleeps pending on the TestClock (milliseconds from now, soonest first) once there is one. */
export const nextWaits = pendingSleeps((fromNow) => fromNow.length > 0)

/**
 * Waits until `pending` sleeps on the TestClock end within `millis` from now: the emulator's work
 * (a service time, a token's latency) is under way, and `TestClock.adjust(millis)` moves it on.
 */
export const sleeping = (millis: number, pending = 1) =>
  pendingSleeps((fromNow) => fromNow.filter((end) => end <= millis).length >= pending)

/**
 * Waits until something sleeps exactly `millis` from now (a client's backoff or the wait a server's hint
 * asked for, an emulator's service time), then moves the TestClock on by that much.
 */
export const elapse = (millis: number) =>
  Effect.zipRight(pendingSleeps((fromNow) => fromNow.includes(millis)), TestClock.adjust(millis))

/**
 * Moves the TestClock on by `millis`, `times` times, each time once `pending` of the emulator's sleeps
 * end within that step. The work takes no real time, and a request keeps its slot until the test moves
 * the clock on, however slow the machine.
 */
export const tick = (millis: number, times = 1, pending = 1) =>
  Effect.gen(function*() {
    for (let step = 0; step < times; step++) {
      yield* sleeping(millis, pending)
      yield* TestClock.adjust(millis)
    }
  })
