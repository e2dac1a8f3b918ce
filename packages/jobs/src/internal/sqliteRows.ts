/**
 * A `bulwark_jobs` row and its `JobRecord`: JSON columns, where SQL NULL
 * means "absent" so that a stored JSON `null` stays `null`.
 *
 * @internal
 */
import type { JobId, JobRecord, JobState } from "../Job.js"

/** @internal */
export interface Row {
  readonly sequence: number
  readonly id: string
  readonly type: string
  readonly queue: string
  readonly state: string
  readonly payload: string | null
  readonly priority: number
  readonly attempts: number
  readonly max_attempts: number
  readonly rate_limited: number
  readonly max_rate_limited: number
  readonly run_at: number
  readonly created_at: number
  readonly started_at: number | null
  readonly finished_at: number | null
  readonly updated_at: number
  readonly revision: number
  readonly lease_owner: string | null
  readonly lease_token: string | null
  readonly lease_expires_at: number | null
  readonly dedupe_key: string | null
  readonly result: string | null
  readonly errors: string
  readonly progress: string | null
  readonly steps: string
  /** Added by migration 0002. */
  readonly traceparent: string | null
}

/** A row that cannot be read back (not JSON where JSON is kept). @internal */
export class CorruptRow extends Error {
  constructor(readonly sequence: number, cause: unknown) {
    super(`corrupt row ${sequence}: ${cause instanceof Error ? cause.message : String(cause)}`)
  }
}

/** JSON for a column: SQL NULL means "absent", so a stored `null` stays `null`. @internal */
export const json = (value: unknown): string | null => value === undefined ? null : JSON.stringify(value)

const parse = (row: Row, text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new CorruptRow(row.sequence, cause)
  }
}

/** @internal */
export const fromRow = (row: Row): JobRecord => ({
  id: row.id as JobId,
  type: row.type,
  queue: row.queue,
  state: row.state as JobState,
  payload: row.payload === null ? undefined : parse(row, row.payload),
  priority: row.priority,
  attempts: row.attempts,
  maxAttempts: row.max_attempts,
  rateLimited: row.rate_limited,
  maxRateLimited: row.max_rate_limited,
  runAt: row.run_at,
  createdAt: row.created_at,
  sequence: row.sequence,
  ...(row.started_at !== null ? { startedAt: row.started_at } : {}),
  ...(row.finished_at !== null ? { finishedAt: row.finished_at } : {}),
  updatedAt: row.updated_at,
  revision: row.revision,
  ...(row.lease_token !== null
    ? { lease: { owner: row.lease_owner ?? "", token: row.lease_token, expiresAt: row.lease_expires_at ?? 0 } }
    : {}),
  ...(row.dedupe_key !== null ? { dedupeKey: row.dedupe_key } : {}),
  ...(row.result !== null ? { result: parse(row, row.result) } : {}),
  errors: parse(row, row.errors) as JobRecord["errors"],
  ...(row.progress !== null ? { progress: parse(row, row.progress) } : {}),
  steps: parse(row, row.steps) as JobRecord["steps"],
  ...(row.traceparent !== null && row.traceparent !== undefined ? { traceparent: row.traceparent } : {})
})
