/**
 * What every store does the same way: lease tokens, the `LeaseExpired`
 * error, filters. Kept here so the memory and SQLite stores cannot drift.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type { JobFilter, JobRecord, JobState, StoredError } from "../Job.js"
import { JobState as JobStateSchema } from "../Job.js"

/** @internal */
export const defaultPageLimit = 100

const hex13 = (x: number) => Math.floor(x * 2 ** 52).toString(16).padStart(13, "0")

/**
 * 32 hex characters from Effect's Random, so tests are deterministic: three
 * draws of 52 random bits each (a draw is an Effect; eight 16-bit draws cost
 * more than the rest of a submit's id). Lease tokens and job ids.
 *
 * @internal
 */
export const makeToken: Effect.Effect<string> = Effect.map(
  Effect.all([Random.next, Random.next, Random.next]),
  ([a, b, c]) => (hex13(a) + hex13(b) + hex13(c)).slice(0, 32)
)

/** @internal */
export const leaseExpiredError = (record: JobRecord, now: number): StoredError => ({
  tag: "LeaseExpired",
  message: `lease of job ${record.id} held by ${record.lease?.owner ?? "unknown"} expired at ${
    record.lease?.expiresAt ?? now
  } (attempt ${record.attempts}/${record.maxAttempts})`,
  attempt: record.attempts,
  at: now
})

/** @internal */
export const matchesFilter = (record: JobRecord, filter: JobFilter): boolean =>
  (filter.types === undefined || filter.types.includes(record.type)) &&
  (filter.states === undefined || filter.states.includes(record.state)) &&
  (filter.createdFrom === undefined || record.createdAt >= filter.createdFrom) &&
  (filter.createdTo === undefined || record.createdAt < filter.createdTo)

/** A record without its lease (exactOptionalPropertyTypes forbids `lease: undefined`). @internal */
export const withoutLease = (record: JobRecord): JobRecord => {
  const { lease: _lease, ...rest } = record
  return rest
}

/** A count of 0 for every state, to fill in. @internal */
export const emptyCounts = (): Record<JobState, number> => {
  const counts = {} as Record<JobState, number>
  for (const state of JobStateSchema.literals) counts[state] = 0
  return counts
}

/** States `retry` accepts. @internal */
export const retryableStates: ReadonlySet<JobState> = new Set(["failed", "cancelled"])
