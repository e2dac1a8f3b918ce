import * as Schema from "effect/Schema"

/**
 * What a trip strategy remembers of one call that counted: whether it failed,
 * how long it took, and when it ended.
 */
export interface Tracker<S = any> {
  readonly initial: S
  readonly record: (state: S, failed: boolean, millis: number, now: number) => S
  /** The reason to open the breaker now, for the log line, or `undefined`. */
  readonly tripped: (state: S, now: number) => string | undefined
  readonly encode: (state: S) => TrackerSnapshot
  /** `undefined` when the snapshot was taken with another shape of strategy. */
  readonly decode: (snapshot: TrackerSnapshot) => S | undefined
  /** A probe that takes longer than this counts as failed (Infinity: never). */
  readonly slowMillis: number
}

/** Calls, failures and slow calls in a window. */
export interface Totals {
  readonly calls: number
  readonly failures: number
  readonly slow: number
}

/** A sliding window of calls, by count or by time. */
export interface Window<S = any> {
  readonly initial: S
  readonly add: (state: S, failed: boolean, slow: boolean, now: number) => S
  readonly totals: (state: S, now: number) => Totals
  /** How the window reads in a log line: "" or " in 30s". */
  readonly label: string
  readonly encode: (state: S) => TrackerSnapshot
  readonly decode: (snapshot: TrackerSnapshot) => S | undefined
}

const Count = Schema.NonNegativeInt

/** @internal */
export const TrackerSnapshot = Schema.Union(
  Schema.TaggedStruct("Consecutive", { failures: Count }),
  Schema.TaggedStruct("CountWindow", {
    size: Count,
    /** Oldest first: 1 success, 3 failure, +4 when slow. */
    outcomes: Schema.Array(Schema.Int)
  }),
  Schema.TaggedStruct("TimeWindow", {
    durationMillis: Schema.Number,
    /** How many slices cut the duration; optional so snapshots saved before it was kept still decode. */
    bucketCount: Schema.optional(Schema.Int),
    buckets: Schema.Array(Schema.Struct({ index: Schema.Int, calls: Count, failures: Count, slow: Count }))
  })
)

/** @internal */
export type TrackerSnapshot = typeof TrackerSnapshot.Type

/** `part / whole ≥ ratio`, computed the way the docs state it (no `ratio × whole` rounding). */
export const reached = (part: number, whole: number, ratio: number): boolean => whole > 0 && part / whole >= ratio
