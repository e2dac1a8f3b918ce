import { Clock, Effect, Metric, TestClock } from "effect"

/**
 * Counts the calls running inside an effect and remembers the most seen at once,
 * and when each call started.
 */
export const tracker = () => {
  const state = { active: 0, max: 0, started: [] as Array<number>, finished: 0, interrupted: 0 }
  const run = <A, E, R>(body: Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          state.active++
          state.max = Math.max(state.max, state.active)
          state.started.push(now)
        })),
      () => Effect.onInterrupt(body, () => Effect.sync(() => state.interrupted++)),
      () =>
        Effect.sync(() => {
          state.active--
          state.finished++
        })
    )
  return { state, run, hold: (millis: number) => run(Effect.sleep(millis)) }
}

/** Lets every forked fiber run up to its next suspension, without moving the clock. */
export const settle = TestClock.adjust(0)

/** The value of a counter. */
export const counterValue = (metric: Metric.Metric.Counter<number>) =>
  Effect.map(Metric.value(metric), (state) => state.count)

/** The value of a gauge. */
export const gaugeValue = (metric: Metric.Metric.Gauge<number>) =>
  Effect.map(Metric.value(metric), (state) => state.value)
