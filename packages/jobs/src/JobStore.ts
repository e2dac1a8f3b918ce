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
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as MemoryStore from "./internal/memoryStore.js"
import * as SqliteStore from "./internal/sqliteStore.js"
import type {
  DedupeMode,
  JobFilter,
  JobId,
  JobRecord,
  JobState,
  NewJob,
  Page,
  PageRequest,
  StoredError
} from "./Job.js"
import { DuplicateJob, JobNotFound, JobNotRetryable, LeaseLost, StoreFailure } from "./JobErrors.js"

/**
 * The store's failures (defined in `JobErrors`).
 *
 * @since 0.1.0
 * @category Errors
 */
export { DuplicateJob, JobNotFound, JobNotRetryable, LeaseLost, StoreFailure }

/**
 * How many jobs the store holds in each state; every state is present (0 when none).
 *
 * @since 0.1.0
 * @category Models
 */
export type Counts = Readonly<Record<JobState, number>>

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
   * a paused queue, a long workflow sleep): `attempts` is given back and it
   * is `queued` again at once, or, given a `runAt` later than `now`,
   * `scheduled` until then.
   */
  readonly release: (
    id: JobId,
    token: string,
    now: number,
    runAt?: number | undefined
  ) => Effect.Effect<void, LeaseLost | StoreFailure>
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
  /**
   * Runs a `failed` or `cancelled` job again: `queued` at `now` with its
   * attempts (and Retry-After re-queues) reset, its errors and completed
   * workflow steps kept (a workflow resumes after its last completed step).
   * Any other state is `JobNotRetryable` naming it; a dedupe key taken by
   * another job meanwhile is `DuplicateJob`.
   */
  readonly retry: (
    id: JobId,
    now: number
  ) => Effect.Effect<JobRecord, JobNotFound | JobNotRetryable | DuplicateJob | StoreFailure>
  readonly get: (id: JobId) => Effect.Effect<JobRecord, JobNotFound | StoreFailure>
  /** Jobs per state, every state present (SQLite: one indexed `COUNT … GROUP BY state`). */
  readonly counts: Effect.Effect<Counts, StoreFailure>
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

/**
 * An in-memory store, for tests and ephemeral use: atomic operations in one
 * synchronous section each, due jobs indexed per queue (a claim never scans
 * the whole store). Nothing survives the process.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeMemory: Effect.Effect<Service> = MemoryStore.make

/**
 * @since 0.1.0
 * @category Layers
 */
export const layerMemory: Layer.Layer<JobStore> = Layer.effect(JobStore, makeMemory)

/**
 * The SQLite store on the `SqlClient` in context (an @effect/sql-sqlite-node
 * client on a file you already open, e.g. shared with your own tables):
 * migrates its schema through it (tables `bulwark_jobs`, `bulwark_jobs_meta`,
 * `bulwark_jobs_migrations`), then serves on a better-sqlite3 connection of
 * its own to the same file (WAL, `synchronous = NORMAL`), closed with the
 * scope, on prepared statements (several times faster than a statement at a
 * time through `SqlClient`). Writes are group-committed: those issued in the
 * same scheduler round share one transaction, each in a savepoint of its own
 * (a refused write rolls back alone), and each caller resumes once that
 * transaction is committed. A lock held by another connection is waited for
 * (up to 5 s) without blocking the event loop.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeSqlite: Effect.Effect<Service, StoreFailure, SqlClient.SqlClient | Scope.Scope> = SqliteStore
  .make()

/**
 * @since 0.1.0
 * @category Layers
 */
export const layerSqliteClient: Layer.Layer<JobStore, StoreFailure, SqlClient.SqlClient> = Layer.scoped(
  JobStore,
  makeSqlite
)

/**
 * The embedded default: one SQLite file in WAL mode that survives a crash
 * (a worker killed mid-job leaves a lease that expires; the job runs again).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerSqlite = (options: { readonly filename: string }): Layer.Layer<JobStore, StoreFailure> =>
  layerSqliteClient.pipe(
    Layer.provide(SqliteClient.layer({ filename: options.filename })),
    // better-sqlite3 throws when it cannot open the file (a defect in
    // SqliteClient); the caller should see which step failed, typed.
    Layer.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Layer.failCause(cause as Cause.Cause<never>)
      const error = Cause.squash(cause)
      return Layer.fail(
        error instanceof StoreFailure ? error : new StoreFailure({
          operation: "open",
          reason: `${options.filename}: ${error instanceof Error ? error.message : String(error)}`
        })
      )
    })
  )
