/**
 * The SQLite `JobStore`: one file, WAL, one `bulwark_jobs` table. The schema
 * is migrated through @effect/sql (the `SqlClient` in context); the store's
 * operations then run on a better-sqlite3 connection of its own to the same
 * file (see `sqliteDriver.ts` for why).
 *
 * Writes are group-committed: the writes issued by fibers in the same
 * scheduler round are applied in one `BEGIN IMMEDIATE … COMMIT` (the write
 * lock is taken up front, so a second connection waits instead of failing
 * halfway through), each inside a `SAVEPOINT` of its own, so a write that is
 * refused (`LeaseLost`, `DuplicateJob`) or fails rolls back alone. A write's
 * caller resumes only once its batch is committed: what a caller was told is
 * stored is on disk (WAL), as with one transaction per write, for a fraction
 * of the commits. Every write takes the next revision (the counter row is
 * read and written once per batch) and checks the lease token in the WHERE
 * clause of its UPDATE.
 *
 * @internal
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { DedupeMode, JobFilter, JobId, NewJob, PageRequest, StoredError } from "../Job.js"
import { DuplicateJob, JobNotFound, JobNotRetryable, LeaseLost, StoreFailure } from "../JobErrors.js"
import type { ClaimRequest, Outcome, Service } from "../JobStore.js"
import * as Driver from "./sqliteDriver.js"
import * as Migrations from "./sqliteMigrations.js"
import { CorruptRow } from "./sqliteRows.js"
import * as Statements from "./sqliteStatements.js"
import { makeToken } from "./storeCommon.js"

/**
 * How long a write waits for another connection's lock (SQLITE_BUSY): the
 * old `busy_timeout = 5000`, but asleep in Effect instead of blocking the
 * event loop.
 */
const busy = Schedule.exponential("1 millis").pipe(
  Schedule.union(Schedule.spaced("50 millis")),
  Schedule.upTo("5 seconds")
)

/**
 * `once` again while another connection holds the lock. The schedule is
 * built only when a lock is in the way: the common path is one synchronous call.
 */
const whileBusy = <A>(once: Effect.Effect<A, unknown>): Effect.Effect<A, unknown> =>
  Effect.catchAll(
    once,
    (error) => Driver.isBusy(error) ? Effect.retry(once, { while: Driver.isBusy, schedule: busy }) : Effect.fail(error)
  )

const reason = (error: unknown): string =>
  error instanceof Error
    ? ("code" in error && typeof error.code === "string" ? `${error.code}: ${error.message}` : error.message)
    : String(error)

/** Typed refusals pass through; anything else is the operation's `StoreFailure`. */
const failure = (operation: string) =>
(
  error: unknown
): DuplicateJob | JobNotFound | JobNotRetryable | LeaseLost | StoreFailure =>
  error instanceof LeaseLost || error instanceof DuplicateJob || error instanceof JobNotFound ||
    error instanceof JobNotRetryable || error instanceof StoreFailure
    ? error
    : new StoreFailure({
      operation,
      reason: error instanceof CorruptRow ? error.message : reason(error)
    })

/** A write waiting for its batch's commit, then its outcome. */
interface Write {
  readonly body: () => unknown
  /** Whether the write, once applied, may have made a job due (claimers are woken once per batch). */
  readonly wakes: (value: unknown) => boolean
  outcome: { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown } | undefined
  resume: (() => void) | undefined
}

const wakesNever = () => false
const wakesAlways = () => true

const opening = (filename: string) => (error: unknown) =>
  new StoreFailure({ operation: "open", reason: `${filename}: ${reason(error)}` })

const sqlFailure = (operation: string) => (error: SqlError) =>
  new StoreFailure({
    operation,
    reason: error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message
  })

/** The file behind the `SqlClient` in context, which the store opens a second time. */
const filenameOf = (sql: SqlClient.SqlClient): Effect.Effect<string, StoreFailure> => {
  const filename = SqliteClient.TypeId in sql ? (sql as SqliteClient.SqliteClient).config.filename : undefined
  if (filename === undefined) {
    return Effect.fail(
      new StoreFailure({
        operation: "open",
        reason: "the SqlClient in context is not an @effect/sql-sqlite-node client"
      })
    )
  }
  // A second connection to an in-memory database would be another, empty database.
  if (filename === "" || filename === ":memory:" || filename.includes("mode=memory")) {
    return Effect.fail(
      new StoreFailure({
        operation: "open",
        reason: `${filename || "(temporary)"}: the SQLite store needs a file (use layerMemory for an in-memory store)`
      })
    )
  }
  return Effect.succeed(filename)
}

/**
 * Builds the store on the SQLite `SqlClient` in context: migrates its schema
 * through it, then opens the same file for the store's own connection,
 * closed with the scope.
 *
 * @internal
 */
export const make = (): Effect.Effect<Service, StoreFailure, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const filename = yield* filenameOf(sql)
    yield* sql`PRAGMA busy_timeout = 5000`.pipe(Effect.mapError(sqlFailure("open")))
    yield* sql`PRAGMA synchronous = NORMAL`.pipe(Effect.mapError(sqlFailure("open")))
    yield* Migrations.run.pipe(
      Effect.mapError((error) => new StoreFailure({ operation: "migrate", reason: error.message }))
    )
    const db = yield* Effect.acquireRelease(
      Effect.try({ try: () => Driver.open(filename), catch: opening(filename) }),
      (db) => Effect.sync(() => db.close())
    )
    const statements = yield* Effect.try({ try: () => Statements.make(db), catch: opening(filename) })
    const wakeupHub = yield* PubSub.sliding<void>(1)
    const wake = PubSub.publish(wakeupHub, undefined)

    /**
     * Runs `body` synchronously, waiting out another connection's lock; `E`
     * names the typed refusals `body` may throw. For reads.
     */
    const attempt = <E = never>(operation: string) => <A>(body: () => A): Effect.Effect<A, E | StoreFailure> => {
      const once = Effect.suspend(() => {
        try {
          return Effect.succeed(body())
        } catch (error) {
          return Effect.fail(error)
        }
      })
      return whileBusy(once).pipe(
        Effect.mapError(failure(operation) as (error: unknown) => E | StoreFailure),
        Effect.withSpan(`JobStore.sqlite.${operation}`, { captureStackTrace: false })
      )
    }

    // --- group commit ----------------------------------------------------------------------------

    let current: () => unknown = () => undefined
    // One transaction function, reused: inside the batch's transaction it runs `current` in a SAVEPOINT.
    const inSavepoint = db.transaction(() => current())
    let pending: Array<Write> | undefined = undefined

    /** Applies `batch` in one transaction; a write's own failure is its outcome, not the batch's. */
    const apply = (batch: ReadonlyArray<Write>) =>
      db.transaction(() =>
        statements.batch(() => {
          for (const write of batch) {
            current = write.body
            try {
              write.outcome = { ok: true, value: inSavepoint() }
            } catch (error) {
              // Another connection's lock: the whole batch waits and runs again.
              if (Driver.isBusy(error)) throw error
              write.outcome = { ok: false, error }
            }
          }
        })
      ).immediate()

    const flush = (batch: Array<Write>): Effect.Effect<void> => {
      if (pending === batch) pending = undefined
      const once = Effect.suspend(() => {
        try {
          apply(batch)
          return Effect.void
        } catch (error) {
          for (const write of batch) write.outcome = undefined
          return Effect.fail(error)
        }
      })
      return whileBusy(once).pipe(
        Effect.catchAll((error) =>
          Effect.sync(() => {
            for (const write of batch) write.outcome = { ok: false, error }
          })
        ),
        Effect.withSpan("JobStore.sqlite.commit", {
          attributes: { "store.batch": batch.length },
          captureStackTrace: false
        }),
        Effect.zipRight(Effect.suspend(() => {
          // One wakeup for the batch, not one per submission.
          for (const write of batch) {
            if (write.outcome?.ok === true && write.wakes(write.outcome.value)) return wake
          }
          return Effect.void
        })),
        Effect.ensuring(Effect.sync(() => {
          for (const write of batch) write.resume?.()
        }))
      )
    }

    const settle = (write: Write): Effect.Effect<unknown, unknown> => {
      const outcome = write.outcome
      // Only if the commit itself died (a defect): the write was not applied.
      if (outcome === undefined) return Effect.fail(new Error("the batch of this write was not committed"))
      return outcome.ok ? Effect.succeed(outcome.value) : Effect.fail(outcome.error)
    }

    /**
     * A write, group-committed: the first write of a round leads, yields once
     * so that the other fibers of the round add theirs, then commits them
     * all; the others wait for that commit. Uninterruptible: a write that
     * joined a batch is applied, so its caller must not be told otherwise.
     */
    const writing =
      <E = never>(operation: string, wakes: (value: any) => boolean = wakesNever) =>
      <A>(body: () => A): Effect.Effect<A, E | StoreFailure> =>
        Effect.uninterruptible(Effect.suspend(() => {
          const write: Write = { body, wakes, outcome: undefined, resume: undefined }
          if (pending !== undefined) {
            pending.push(write)
            return Effect.async<unknown, unknown>((resume) => {
              if (write.outcome !== undefined) return resume(settle(write))
              write.resume = () => resume(settle(write))
            })
          }
          const batch = [write]
          pending = batch
          return Effect.yieldNow().pipe(
            Effect.zipRight(Effect.suspend(() => flush(batch))),
            Effect.zipRight(Effect.suspend(() => settle(write)))
          )
        })).pipe(Effect.mapError(failure(operation))) as Effect.Effect<A, E | StoreFailure>

    const enqueue = (job: NewJob, options: { readonly now: number; readonly dedupe?: DedupeMode | undefined }) =>
      writing<DuplicateJob>("enqueue", (result: { readonly created: boolean }) => result.created)(() =>
        statements.enqueue(job, options)
      )

    const claim = (request: ClaimRequest) =>
      Effect.flatMap(makeToken, (random) => {
        // One random draw per claim; the counter keeps each job's token distinct.
        const base = random.slice(0, 24)
        let next = 0
        const token = () => base + (next++).toString(16).padStart(8, "0")
        return writing("claim")(() => statements.claim(request, token))
      })

    const heartbeat = (id: JobId, token: string, expiresAt: number, now: number) =>
      writing<LeaseLost>("heartbeat")(() => statements.heartbeat(id, token, expiresAt, now))

    const complete = (id: JobId, token: string, result: unknown, now: number) =>
      writing<LeaseLost>("complete")(() => statements.complete(id, token, result, now))

    const fail = (id: JobId, token: string, error: StoredError, outcome: Outcome, now: number) =>
      writing<LeaseLost>("fail", wakesAlways)(() => statements.fail(id, token, error, outcome, now))

    const release = (id: JobId, token: string, now: number, runAt?: number) =>
      writing<LeaseLost>("release", wakesAlways)(() => statements.release(id, token, now, runAt))

    const saveStep = (id: JobId, token: string, name: string, value: unknown, now: number) =>
      writing<LeaseLost>("saveStep")(() => statements.saveStep(id, token, name, value, now))

    const progress = (id: JobId, token: string, value: unknown, now: number) =>
      writing<LeaseLost>("progress")(() => statements.progress(id, token, value, now))

    const cancel = (id: JobId, now: number) => writing<JobNotFound>("cancel")(() => statements.cancel(id, now))

    const retry = (id: JobId, now: number) =>
      writing<JobNotFound | JobNotRetryable | DuplicateJob>("retry", wakesAlways)(() => statements.retry(id, now))

    const get = (id: JobId) => attempt<JobNotFound>("get")(() => statements.get(id))

    const counts = attempt("counts")(() => statements.counts())

    const list = (filter: JobFilter, page: PageRequest) => attempt("list")(() => statements.list(filter, page))

    // One read snapshot: the page and the counter agree.
    const changes = (after: number, limit: number) =>
      attempt("changes")(() => db.transaction(() => statements.changes(after, limit)).deferred())

    const prune = (options: { readonly finishedBefore?: number | undefined; readonly keep?: number | undefined }) =>
      writing("prune")(() => statements.prune(options))

    return {
      enqueue,
      claim,
      heartbeat,
      complete,
      fail,
      release,
      saveStep,
      progress,
      cancel,
      retry,
      get,
      counts,
      list,
      changes,
      prune,
      wakeups: Stream.fromPubSub(wakeupHub)
    } satisfies Service
  })
