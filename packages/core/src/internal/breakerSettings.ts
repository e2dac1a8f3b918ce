import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import type { FailureRatio, Options, Settings, SlowCalls, Trip } from "../CircuitBreaker.js"
import * as Classify from "../Classify.js"
import { InvalidPolicy } from "../Errors.js"
import { consecutive } from "./breakerConsecutive.js"
import { countWindow } from "./breakerCountWindow.js"
import { defaults } from "./breakerKeys.js"
import type { Cursor } from "./breakerMachine.js"
import { failureRatio, slowCalls } from "./breakerRatio.js"
import { timeWindow } from "./breakerTimeWindow.js"
import type { Tracker, Window } from "./breakerTracker.js"
import type { Checked } from "./validate.js"
import { checker } from "./validate.js"

const check = checker("circuit-breaker")

/** Copying the ring on each call stays cheap up to here. */
const maxWindowSize = 10_000
const maxBuckets = 1000

const ratioOf = (field: string, input: unknown): Checked<number> =>
  typeof input === "number" && input > 0 && input <= 1
    ? Either.right(input)
    : check.refuse(field, input, "a number in (0, 1]")

const integer = (field: string, input: unknown, min: number, max: number): Checked<number> =>
  Either.flatMap(
    check.number(field, input, { min, integer: true }),
    (value) => value <= max ? Either.right(value) : check.refuse(field, input, `an integer in [${min}, ${max}]`)
  )

interface Windowed {
  readonly window: Window
  readonly minimum: number
  readonly normalized: Partial<FailureRatio>
}

const windowOf = (field: string, trip: FailureRatio | SlowCalls): Checked<Windowed> =>
  Either.gen(function*() {
    if (trip.duration === undefined) {
      if (trip.minimumThroughput !== undefined) {
        yield* check.refuse(
          `${field}.minimumThroughput`,
          trip.minimumThroughput,
          "no value with a count window (use minimumCalls, or give a duration)"
        )
      }
      if (trip.buckets !== undefined) {
        yield* check.refuse(`${field}.buckets`, trip.buckets, "no value with a count window (give a duration)")
      }
      const size = yield* integer(`${field}.size`, trip.size ?? defaults.windowSize, 1, maxWindowSize)
      const minimumCalls = yield* integer(`${field}.minimumCalls`, trip.minimumCalls ?? size, 1, size)
      return { window: countWindow(size), minimum: minimumCalls, normalized: { size, minimumCalls } }
    }
    if (trip.size !== undefined) {
      yield* check.refuse(`${field}.size`, trip.size, "no value with a time window (give either size or duration)")
    }
    if (trip.minimumCalls !== undefined) {
      yield* check.refuse(
        `${field}.minimumCalls`,
        trip.minimumCalls,
        "no value with a time window (use minimumThroughput)"
      )
    }
    const duration = yield* check.millis(`${field}.duration`, trip.duration)
    if (duration === 0) yield* check.refuse(`${field}.duration`, trip.duration, "a duration > 0")
    const minimumThroughput = yield* check.number(
      `${field}.minimumThroughput`,
      trip.minimumThroughput ?? defaults.minimumThroughput,
      { min: 1, integer: true }
    )
    const buckets = yield* integer(`${field}.buckets`, trip.buckets ?? defaults.buckets, 1, maxBuckets)
    return {
      window: timeWindow(duration, buckets),
      minimum: minimumThroughput,
      normalized: { duration, minimumThroughput, buckets }
    }
  })

const tripOf = (field: string, trip: Trip): Checked<readonly [Trip, Tracker]> =>
  Either.gen(function*() {
    switch (trip?._tag) {
      case "ConsecutiveFailures": {
        const threshold = yield* check.number(`${field}.threshold`, trip.threshold ?? defaults.failureThreshold, {
          min: 1,
          integer: true
        })
        return [{ _tag: "ConsecutiveFailures", threshold }, consecutive(threshold)] as const
      }
      case "FailureRatio": {
        const ratio = yield* ratioOf(`${field}.ratio`, trip.ratio ?? defaults.ratio)
        const { minimum, normalized, window } = yield* windowOf(field, trip)
        return [{ _tag: "FailureRatio", ratio, ...normalized }, failureRatio(window, ratio, minimum)] as const
      }
      case "SlowCalls": {
        const threshold = yield* check.millis(`${field}.threshold`, trip.threshold ?? defaults.slowCallThreshold)
        const ratio = yield* ratioOf(`${field}.ratio`, trip.ratio ?? defaults.slowCallRatio)
        const { minimum, normalized, window } = yield* windowOf(field, trip)
        return [
          { _tag: "SlowCalls", threshold, ratio, ...normalized },
          slowCalls(window, ratio, minimum, threshold)
        ] as const
      }
      default:
        return yield* check.refuse(
          field,
          trip,
          "a trip strategy: consecutiveFailures(), failureRatio() or slowCalls() of CircuitBreaker"
        )
    }
  })

/** Validates options into settings; every refusal names the field. */
export const validate = <E = unknown>(options: Options<E> = {}): Either.Either<Settings<E>, InvalidPolicy> =>
  Either.gen(function*() {
    const given = options.trip ?? { _tag: "ConsecutiveFailures" }
    const list: ReadonlyArray<Trip> = Array.isArray(given) ? given : [given as Trip]
    if (list.length === 0) yield* check.refuse("trip", given, "at least one trip strategy")
    const trips: Array<Trip> = []
    const trackers: Array<Tracker> = []
    for (let i = 0; i < list.length; i++) {
      const [trip, tracker] = yield* tripOf(Array.isArray(given) ? `trip[${i}]` : "trip", list[i]!)
      trips.push(trip)
      trackers.push(tracker)
    }
    const openDuration: number | Schedule.Schedule<unknown> = Schedule.isSchedule(options.openDuration)
      ? options.openDuration as Schedule.Schedule<unknown>
      : yield* check.millis("openDuration", options.openDuration ?? defaults.openDuration)
    const maxProbes = yield* check.number("maxProbes", options.maxProbes ?? defaults.maxProbes, {
      min: 1,
      integer: true
    })
    const successThreshold = yield* check.number(
      "successThreshold",
      options.successThreshold ?? defaults.successThreshold,
      { min: 1, integer: true }
    )
    const halfOpenRetryAfterMillis = yield* check.millis(
      "halfOpenRetryAfter",
      options.halfOpenRetryAfter ?? defaults.halfOpenRetryAfter
    )
    const isFailure = yield* check.predicate("isFailure", options.isFailure ?? Classify.isServiceFailure)
    return { trip: trips, openDuration, maxProbes, successThreshold, halfOpenRetryAfterMillis, isFailure, trackers }
  })

/** One step of the open-duration schedule: the cursor for the next opening, or `undefined` when it is done. */
export const step = (schedule: Schedule.Schedule<unknown>, from: unknown, now: number) =>
  Effect.map(
    schedule.step(now, undefined, from),
    ([state, , decision]): Cursor | undefined =>
      ScheduleDecision.isDone(decision)
        ? undefined
        : { state, next: Math.max(0, Intervals.start(decision.intervals) - now) }
  )

/**
 * The cursor of a breaker's first opening. The rest of {@link validate}: whether a
 * schedule ends at once is only known by stepping it, an effect, so it is checked
 * wherever breakers are made (`make`, `fromSettings`, and a registry's `make` and
 * layers, for `defaults` and every `byName` entry before any breaker is built).
 */
export const firstCursor = (
  openDuration: Settings["openDuration"],
  now: number
): Effect.Effect<Cursor, InvalidPolicy> =>
  typeof openDuration === "number"
    ? Effect.succeed({ state: undefined, next: openDuration })
    : Effect.flatMap(step(openDuration, openDuration.initial, now), (cursor) =>
      cursor === undefined
        ? new InvalidPolicy({
          policy: "circuit-breaker",
          field: "openDuration",
          value: "a schedule that ends at once",
          expected: "a schedule that gives at least one delay"
        })
        : Effect.succeed(cursor))
