/**
 * What a job is, as the store keeps it: the data model shared by the
 * supervisor and every `JobStore` (memory, SQLite, PostgreSQL). Everything
 * here is a Schema, because it crosses a store: payloads, results, errors and
 * step results are kept encoded (JSON values) and decoded by the job type
 * that owns them.
 *
 * States, after River's and Oban's (the names say what a user sees):
 *
 * ```
 * submit ─► queued ───────► running ─► succeeded
 *    │        ▲  (claimed)     │ ├────► failed      (attempts exhausted, or not retryable)
 *    ▼        │ (runAt due)    │ └────► retrying ── (runAt due) ──► running …
 * scheduled ──┘                │
 *          any non-final ──────┴──────► cancelled
 * ```
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category Models
 */
export const JobId = Schema.String.pipe(Schema.brand("@bulwark/jobs/JobId"))

/**
 * @since 0.1.0
 * @category Models
 */
export type JobId = typeof JobId.Type

/**
 * @since 0.1.0
 * @category Models
 */
export const JobState = Schema.Literal("scheduled", "queued", "running", "retrying", "succeeded", "failed", "cancelled")

/**
 * @since 0.1.0
 * @category Models
 */
export type JobState = typeof JobState.Type

/**
 * States a job never leaves.
 *
 * @since 0.1.0
 * @category Models
 */
export const finalStates: ReadonlySet<JobState> = new Set(["succeeded", "failed", "cancelled"])

/**
 * A failure as stored: its tag and message for people, its encoded form for
 * the job type's error Schema, and when it happened.
 *
 * @since 0.1.0
 * @category Models
 */
export const StoredError = Schema.Struct({
  tag: Schema.String,
  message: Schema.String,
  /** The error encoded by the job type's error Schema, when it has one. */
  encoded: Schema.optional(Schema.Unknown),
  attempt: Schema.Number,
  at: Schema.Number
})

/**
 * @since 0.1.0
 * @category Models
 */
export type StoredError = typeof StoredError.Type

/**
 * Who holds a running job, until when. Only the holder of the current lease
 * may complete, fail, heartbeat or release the job.
 *
 * @since 0.1.0
 * @category Models
 */
export const Lease = Schema.Struct({
  owner: Schema.String,
  token: Schema.String,
  expiresAt: Schema.Number
})

/**
 * @since 0.1.0
 * @category Models
 */
export type Lease = typeof Lease.Type

/**
 * A job as the store keeps it. Times are epoch milliseconds of Effect's Clock.
 *
 * @since 0.1.0
 * @category Models
 */
export const JobRecord = Schema.Struct({
  id: JobId,
  type: Schema.String,
  /** Concurrency and pausing are per queue; a type's queue defaults to its name. */
  queue: Schema.String,
  state: JobState,
  /** The payload, encoded by the type's payload Schema. */
  payload: Schema.Unknown,
  /** Lower runs first among due jobs; ties by `runAt`, then by submission order. */
  priority: Schema.Number,
  /** Attempts started that counted (rate-limited re-queues do not). */
  attempts: Schema.Number,
  maxAttempts: Schema.Number,
  /** Re-queues after a Retry-After hint (GPU busy), bounded by `maxRateLimited`. */
  rateLimited: Schema.Number,
  maxRateLimited: Schema.Number,
  /** When the job may next start. */
  runAt: Schema.Number,
  createdAt: Schema.Number,
  /** Submission order, assigned by the store; also the cursor of `changes`. */
  sequence: Schema.Number,
  startedAt: Schema.optional(Schema.Number),
  finishedAt: Schema.optional(Schema.Number),
  updatedAt: Schema.Number,
  /** A store-wide counter bumped by every write to any job: the cursor of `changes`. */
  revision: Schema.Number,
  lease: Schema.optional(Lease),
  dedupeKey: Schema.optional(Schema.String),
  /** The result, encoded by the type's result Schema (state `succeeded`). */
  result: Schema.optional(Schema.Unknown),
  /** Every failure so far, oldest first; the last is the job's last error. */
  errors: Schema.Array(StoredError),
  /** The latest progress the handler reported (encoded JSON value). */
  progress: Schema.optional(Schema.Unknown),
  /**
   * The W3C `traceparent` of the span that submitted the job (added after the
   * first release of this model, so optional): each attempt's span links to it,
   * in whichever process the attempt runs.
   */
  traceparent: Schema.optional(Schema.String),
  /** Results of completed workflow steps, by step name (encoded by each step's Schema). */
  steps: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})

/**
 * @since 0.1.0
 * @category Models
 */
export type JobRecord = typeof JobRecord.Type

/**
 * What `submit` asks the store to keep.
 *
 * @since 0.1.0
 * @category Models
 */
export interface NewJob {
  readonly id: JobId
  readonly type: string
  readonly queue: string
  readonly payload: unknown
  readonly priority: number
  readonly maxAttempts: number
  readonly maxRateLimited: number
  readonly runAt: number
  readonly dedupeKey?: string | undefined
  /** The submitting span's W3C `traceparent`, kept for the attempts' span links. */
  readonly traceparent?: string | undefined
}

/**
 * What a second submission with the same dedupe key does while the first is
 * not final: `reject` fails with `DuplicateJob` naming the existing job,
 * `existing` returns the existing job's id (the job runs once). A key is free
 * again once its job is final.
 *
 * @since 0.1.0
 * @category Models
 */
export type DedupeMode = "reject" | "existing"

/**
 * @since 0.1.0
 * @category Models
 */
export interface JobFilter {
  readonly types?: ReadonlyArray<string> | undefined
  readonly states?: ReadonlyArray<JobState> | undefined
  /** `createdAt` in `[from, to)`. */
  readonly createdFrom?: number | undefined
  readonly createdTo?: number | undefined
}

/**
 * A page of `list`: jobs in submission order after `after` (a `sequence`).
 *
 * @since 0.1.0
 * @category Models
 */
export interface PageRequest {
  readonly after?: number | undefined
  /** Default 100. */
  readonly limit?: number | undefined
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Page {
  readonly jobs: ReadonlyArray<JobRecord>
  /** Pass as `after` for the next page; undefined when this was the last. */
  readonly next: number | undefined
}
