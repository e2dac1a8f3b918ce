/**
 * What every store does the same way: lease tokens, the `LeaseExpired`
 * error, filters. Kept here so the memory and SQLite stores cannot drift.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type { JobFilter, JobRecord, StoredError } from "../Job.js"

/** @internal */
export const defaultPageLimit = 100

/** A lease token: 32 hex chars from Effect's Random, so tests are deterministic. @internal */
export const makeToken: Effect.Effect<string> = Effect.map(
  Effect.all(Array.from({ length: 8 }, () => Random.nextIntBetween(0, 0x10000))),
  (parts) => parts.map((n) => n.toString(16).padStart(4, "0")).join("")
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
