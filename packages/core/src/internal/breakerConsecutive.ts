import type { Tracker } from "./breakerTracker.js"

/** Opens after `threshold` counted failures in a row; a success starts the count again. */
export const consecutive = (threshold: number): Tracker<number> => ({
  initial: 0,
  record: (failures, failed) => failed ? failures + 1 : 0,
  tripped: (failures) => failures >= threshold ? `failures: ${failures}` : undefined,
  encode: (failures) => ({ _tag: "Consecutive", failures }),
  decode: (snapshot) => snapshot._tag === "Consecutive" ? snapshot.failures : undefined,
  slowMillis: Infinity
})
