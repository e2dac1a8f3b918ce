/**
 * Helpers for TestClock tests over real loopback sockets: the test's Clock
 * stands still while real time passes for the I/O.
 */
import { Chunk, Effect, TestClock } from "effect"

/** Real time (for the sockets), whatever the Clock of the test. */
export const realSleep = (millis: number) =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** Polls `check` in real time until it holds; dies after `within` real milliseconds. */
export const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, what: string, within = 3000) =>
  Effect.gen(function*() {
    for (let waited = 0; waited < within; waited += 5) {
      if (yield* check) return
      yield* realSleep(5)
    }
    return yield* Effect.dieMessage(`not within ${within} ms: ${what}`)
  })

/** Until a fiber sleeps until exactly `delay` from the TestClock's now: the wait a retry or a limiter chose. */
export const sleepRegistered = (delay: number) =>
  Effect.flatMap(TestClock.currentTimeMillis, (now) =>
    eventually(
      Effect.map(TestClock.sleeps(), (sleeps) => Chunk.some(sleeps, (at) => at === now + delay)),
      `a sleep of ${delay} ms from ${now}`
    ))
