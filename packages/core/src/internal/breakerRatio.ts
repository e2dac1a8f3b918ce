import * as Duration from "effect/Duration"
import type { Tracker, Window } from "./breakerTracker.js"
import { reached } from "./breakerTracker.js"

/** Opens when at least `minimum` calls are in the window and `failures / calls ≥ ratio`. */
export const failureRatio = <S>(window: Window<S>, ratio: number, minimum: number): Tracker<S> => ({
  initial: window.initial,
  record: (state, failed, _millis, now) => window.add(state, failed, false, now),
  tripped: (state, now) => {
    const { calls, failures } = window.totals(state, now)
    return calls >= minimum && reached(failures, calls, ratio)
      ? `failure ratio: ${failures}/${calls} calls${window.label}`
      : undefined
  },
  encode: window.encode,
  decode: window.decode,
  slowMillis: Infinity
})

/**
 * Opens when at least `minimum` calls are in the window and the share of calls
 * that took longer than `slowMillis` (failed or not) is `≥ ratio`. A probe that
 * slow fails too.
 */
export const slowCalls = <S>(window: Window<S>, ratio: number, minimum: number, slowMillis: number): Tracker<S> => ({
  initial: window.initial,
  record: (state, failed, millis, now) => window.add(state, failed, millis > slowMillis, now),
  tripped: (state, now) => {
    const { calls, slow } = window.totals(state, now)
    return calls >= minimum && reached(slow, calls, ratio)
      ? `slow calls: ${slow}/${calls} calls${window.label} took over ${Duration.format(Duration.millis(slowMillis))}`
      : undefined
  },
  encode: window.encode,
  decode: window.decode,
  slowMillis
})
