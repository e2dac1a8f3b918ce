import * as Duration from "effect/Duration"
import type { Totals, TrackerSnapshot, Window } from "./breakerTracker.js"

interface Bucket extends Totals {
  readonly index: number
}

type TimeState = ReadonlyArray<Bucket | undefined>

/**
 * Calls of the last `durationMillis`, in `buckets` slices: the slice of time `t`
 * is `floor(t × buckets / durationMillis)`, and the window is the current slice
 * and the `buckets - 1` before it. A call so stops counting between
 * `(1 - 1/buckets) × duration` and `duration` after it ended, and memory stays
 * `buckets` counters however many calls there are.
 */
export const timeWindow = (durationMillis: number, buckets: number): Window<TimeState> => {
  const indexAt = (now: number) => Math.floor(now * buckets / durationMillis)
  const slot = (index: number) => ((index % buckets) + buckets) % buckets
  return {
    initial: Array.from({ length: buckets }, () => undefined),
    add: (state, failed, slow, now) => {
      const index = indexAt(now)
      const at = slot(index)
      const old = state[at]
      const bucket = old !== undefined && old.index === index ? old : { index, calls: 0, failures: 0, slow: 0 }
      const next = state.slice()
      next[at] = {
        index,
        calls: bucket.calls + 1,
        failures: bucket.failures + (failed ? 1 : 0),
        slow: bucket.slow + (slow ? 1 : 0)
      }
      return next
    },
    totals: (state, now) => {
      const current = indexAt(now)
      let calls = 0
      let failures = 0
      let slow = 0
      for (const bucket of state) {
        if (bucket !== undefined && bucket.index > current - buckets && bucket.index <= current) {
          calls += bucket.calls
          failures += bucket.failures
          slow += bucket.slow
        }
      }
      return { calls, failures, slow }
    },
    label: ` in ${Duration.format(Duration.millis(durationMillis))}`,
    encode: (state): TrackerSnapshot => ({
      _tag: "TimeWindow",
      durationMillis,
      bucketCount: buckets,
      buckets: state.filter((bucket) => bucket !== undefined)
    }),
    // Slices of another width cannot be re-cut: such a window starts empty. So does one
    // saved before the count was kept, whose width is unknown.
    decode: (snapshot) => {
      if (
        snapshot._tag !== "TimeWindow" || snapshot.durationMillis !== durationMillis ||
        snapshot.bucketCount !== buckets
      ) return undefined
      const state: Array<Bucket | undefined> = Array.from({ length: buckets }, () => undefined)
      for (const bucket of snapshot.buckets) {
        const old = state[slot(bucket.index)]
        if (old === undefined || old.index < bucket.index) state[slot(bucket.index)] = bucket
      }
      return state
    }
  }
}
