import { Effect, Logger, TestClock } from "effect"

/** Lets forked fibers (claim loop, attempts) run to their next sleep. */
export const settle = Effect.repeatN(Effect.yieldNow(), 200)

/** Advances the TestClock in steps, letting fibers run between steps. */
export const advance = (millis: number, step = 100) =>
  Effect.gen(function*() {
    yield* settle
    for (let left = millis; left > 0; left -= step) {
      yield* TestClock.adjust(Math.min(step, left))
      yield* settle
    }
  })

/** Collects log messages. */
export const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ message }) => {
      lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
  )
  return { lines, logger }
}
