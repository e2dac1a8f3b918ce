/**
 * Where jobs live: the one service the supervisor talks to. Its contract is
 * what lets a PostgreSQL store (many processes on many machines, `FOR UPDATE
 * SKIP LOCKED`, LISTEN/NOTIFY) drop in beside the memory and SQLite stores
 * without the supervisor changing:
 *
 * - `claim` is atomic: a due job is handed to exactly one claimer, with a
 *   fresh lease (owner, token, expiry). A running job whose lease expired
 *   (its worker died) is due again: at-least-once execution.
 * - `complete`, `fail`, `heartbeat`, `release`, `saveStep` and `progress`
 *   are accepted only with the current lease's token; a stale holder gets
 *   `LeaseLost` and its result is not stored, so a result is stored once.
 * - Every write bumps the store's `revision`, the cursor of `changes`.
 * - Times are given by the caller (from Effect's Clock), never read by the
 *   store, so a store is deterministic under TestClock.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type { DedupeMode, JobFilter, JobId, JobRecord, NewJob, Page, PageRequest, StoredError } from "./Job.js"

/**
 * The store itself failed (the disk, the database, a corrupt row).
 *
 * @since 0.1.0
 * @category Errors
 */
export class StoreFailure extends Schema.TaggedError<StoreFailure>()("StoreFailure", {
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `job store failed in ${this.operation}: ${this.reason}`
  }
}

/**
 * @since 0.1.0
 * @category Errors
 */
export class JobNotFound extends Schema.TaggedError<JobNotFound>()("JobNotFound", {
  id: Schema.String
}) {
  override get message() {
    return `Job not found: ${this.id}`
  }
}

/**
 * A submission whose dedupe key belongs to a job that is not final, in mode `reject`.
 *
 * @since 0.1.0
 * @category Errors
 */
export class DuplicateJob extends Schema.TaggedError<DuplicateJob>()("DuplicateJob", {
  dedupeKey: Schema.String,
  existing: Schema.String
}) {
  override get message() {
    return `a job with dedupe key ${this.dedupeKey} is already ${this.existing}`
  }
}

/**
 * The caller no longer holds the job's lease (it expired and another worker
 * claimed the job, or the job was cancelled): what it wanted to write is
 * refused.
 *
 * @since 0.1.0
 * @category Errors
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  id: Schema.String,
  operation: Schema.String
}) {
  override get message() {
    return `lease of job ${this.id} lost before ${this.operation}`
  }
}

/**
 * What to do with a job whose attempt failed.
 *
 * @since 0.1.0
 * @category Models
 */
export type Outcome =
  /**
   * Run again at `runAt` (state `retrying`). `counted: false` (a Retry-After
   * re-queue) gives back the attempt `claim` added and counts one `rateLimited`.
   */
  | { readonly _tag: "Retry"; readonly runAt: number; readonly counted: boolean }
  /** Final: state `failed`. */
  | { readonly _tag: "Fail" }

/**
 * @since 0.1.0
 * @category Models
 */
export interface ClaimRequest {
  /** Queues to claim from, each with how many jobs to take at most. */
  readonly queues: ReadonlyArray<{ readonly queue: string; readonly limit: number }>
  readonly owner: string
  readonly now: number
  readonly leaseMillis: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /**
   * Keeps a new job (state `scheduled` if `runAt > now`, else `queued`). With
   * a dedupe key held by a job that is not final: mode `existing` returns that
   * job (`created: false`), mode `reject` fails with `DuplicateJob`.
   */
  readonly enqueue: (
    job: NewJob,
    options: { readonly now: number; readonly dedupe?: DedupeMode | undefined }
  ) => Effect.Effect<{ readonly job: JobRecord; readonly created: boolean }, DuplicateJob | StoreFailure>
  /**
   * Atomically takes due jobs (`queued`, or `scheduled` / `retrying` with
   * `runAt <= now`, or `running` with an expired lease), in priority, then
   * `runAt`, then submission order, and marks them `running` under a new
   * lease, adding one to `attempts`. A job whose lease expired (its worker
   * died) costs that attempt: when it has none left it is not run again but
   * ends `failed` with a `LeaseExpired` error, so a job that kills its worker
   * cannot loop forever.
   */
  readonly claim: (request: ClaimRequest) => Effect.Effect<ReadonlyArray<JobRecord>, StoreFailure>
  /** Extends the lease; `LeaseLost` when the token is not the current one. */
  readonly heartbeat: (
    id: JobId,
    token: string,
    expiresAt: number,
    now: number
  ) => Effect.Effect<void, LeaseLost | StoreFailure>
  /** Final success: stores the encoded result, clears the lease. */
  readonly complete: (
    id: JobId,
    token: string,
    result: unknown,
    now: number
  ) => Effect.Effect<JobRecord, LeaseLost | StoreFailure>
  /** A failed attempt: appends the error, then retries or fails per `outcome`. */
  readonly fail: (
    id: JobId,
    token: string,
    error: StoredError,
    outcome: Outcome,
    now: number
  ) => Effect.Effect<JobRecord, LeaseLost | StoreFailure>
  /**
   * Gives a running job back without using its attempt (graceful shutdown,
   * a paused queue): `attempts` is given back and it is `queued` again at once.
   */
  readonly release: (id: JobId, token: string, now: number) => Effect.Effect<void, LeaseLost | StoreFailure>
  /** Stores a workflow step's encoded result under its name. */
  readonly saveStep: (
    id: JobId,
    token: string,
    name: string,
    value: unknown,
    now: number
  ) => Effect.Effect<void, LeaseLost | StoreFailure>
  readonly progress: (
    id: JobId,
    token: string,
    progress: unknown,
    now: number
  ) => Effect.Effect<void, LeaseLost | StoreFailure>
  /**
   * Cancels a job that is not final (a running one too: its lease is
   * cleared, so its worker's writes are refused). Returns the job as it is
   * now; a final job is returned unchanged.
   */
  readonly cancel: (id: JobId, now: number) => Effect.Effect<JobRecord, JobNotFound | StoreFailure>
  readonly get: (id: JobId) => Effect.Effect<JobRecord, JobNotFound | StoreFailure>
  readonly list: (filter: JobFilter, page: PageRequest) => Effect.Effect<Page, StoreFailure>
  /** Jobs written after revision `after`, in revision order (each job once, as it is now). */
  readonly changes: (
    after: number,
    limit: number
  ) => Effect.Effect<{ readonly jobs: ReadonlyArray<JobRecord>; readonly revision: number }, StoreFailure>
  /**
   * Deletes final jobs that finished before `finishedBefore`, and beyond the
   * `keep` most recent final jobs; returns how many were deleted.
   */
  readonly prune: (
    options: { readonly finishedBefore?: number | undefined; readonly keep?: number | undefined }
  ) => Effect.Effect<number, StoreFailure>
  /** Signals that due work may exist (a submit, a release): lets claimers wake early. */
  readonly wakeups: Stream.Stream<void>
}

/**
 * @since 0.1.0
 * @category Tags
 */
export class JobStore extends Context.Tag("@bulwark/jobs/JobStore")<JobStore, Service>() {}
