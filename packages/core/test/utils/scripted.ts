import { Cause, Clock, Effect, Exit, Fiber, Option, TestClock } from "effect"

/**
 * An effect that fails with `failures` in order, one per call, then succeeds
 * with "ok"; `calls` records the clock at each call.
 */
export const scripted = <E>(failures: ReadonlyArray<E>) => {
  const calls: Array<number> = []
  const effect = Effect.suspend(() => {
    const index = calls.length
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      calls.push(now)
      return index < failures.length ? Effect.fail(failures[index]!) : Effect.succeed("ok" as const)
    })
  })
  return { calls, effect }
}

/** Call times relative to the first one. */
export const relative = (calls: ReadonlyArray<number>) => calls.map((time) => time - calls[0]!)

/** Runs `effect` while the TestClock moves a day ahead, firing every sleep in order. */
export const runOnTestClock = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust("1 days")
    const exit = yield* Fiber.await(fiber)
    return exit
  })

/** The failure of an exit, or a test failure. */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${String(exit.value)}`)
  return Option.getOrThrowWith(
    Cause.failureOption(exit.cause),
    () => new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  )
}
