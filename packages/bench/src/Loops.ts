/**
 * How peers make their N calls of one sample. Results are summed into a sink
 * that outlives the benchmark, so no call can be optimised away.
 */
import * as Effect from "effect/Effect"

let sink = 0

/** Keeps `value` alive; returns the running total (for the odd caller that wants it). */
export const consume = (value: number): number => (sink += value)

/** N calls inside one `runPromise`, so a call costs the effect, not a runtime start. */
export const effectLoop = <E>(effect: Effect.Effect<number, E>) => (iterations: number): Promise<void> =>
  Effect.runPromise(Effect.gen(function*() {
    let sum = 0
    for (let i = 0; i < iterations; i++) sum += yield* effect
    consume(sum)
  }))

/** N awaited calls, one after another. */
export const promiseLoop = (make: () => Promise<number>) => async (iterations: number): Promise<void> => {
  let sum = 0
  for (let i = 0; i < iterations; i++) sum += await make()
  consume(sum)
}
