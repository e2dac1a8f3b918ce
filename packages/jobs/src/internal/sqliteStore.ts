/**
 * The SQLite `JobStore`: one file, WAL, one `bulwark_jobs` table. Every
 * write runs in a `BEGIN IMMEDIATE` transaction (the write lock is taken up
 * front, so a second process waits on `busy_timeout` instead of failing
 * with SQLITE_BUSY halfway through), bumps the revision counter row, and
 * checks the lease token in the WHERE clause of its UPDATE.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { DedupeMode, JobFilter, JobId, JobRecord, JobState, NewJob, PageRequest, StoredError } from "../Job.js"
import { DuplicateJob, JobNotFound, LeaseLost, StoreFailure } from "../JobErrors.js"
import type { ClaimRequest, Outcome, Service } from "../JobStore.js"
import * as Migrations from "./sqliteMigrations.js"
import { defaultPageLimit, leaseExpiredError, makeToken } from "./storeCommon.js"

const liveStates: ReadonlyArray<JobState> = ["scheduled", "queued", "running", "retrying"]
const doneStates: ReadonlyArray<JobState> = ["succeeded", "failed", "cancelled"]

interface Row {
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
}

/** JSON for a column: SQL NULL means "absent", so a stored `null` stays `null`. */
const json = (value: unknown): string | null => value === undefined ? null : JSON.stringify(value)

const fromRow = (row: Row): JobRecord => ({
  id: row.id as JobId,
  type: row.type,
  queue: row.queue,
  state: row.state as JobState,
  payload: row.payload === null ? undefined : JSON.parse(row.payload),
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
  ...(row.result !== null ? { result: JSON.parse(row.result) } : {}),
  errors: JSON.parse(row.errors),
  ...(row.progress !== null ? { progress: JSON.parse(row.progress) } : {}),
  steps: JSON.parse(row.steps)
})

const decode = (operation: string) => (rows: ReadonlyArray<Row>) =>
  Effect.try({
    try: () => rows.map(fromRow),
    catch: (cause) => new StoreFailure({ operation, reason: `corrupt row: ${String(cause)}` })
  })

const storeFailure = (operation: string) => (error: SqlError) =>
  Effect.fail(
    new StoreFailure({
      operation,
      reason: error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message
    })
  )

/**
 * Builds the store on the `SqlClient` in context (a SQLite one), migrating
 * its schema first.
 *
 * @internal
 */
export const make = (): Effect.Effect<Service, StoreFailure, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`PRAGMA busy_timeout = 5000`.pipe(Effect.catchAll(storeFailure("open")))
    // WAL with synchronous=NORMAL is durable across a process crash (SIGKILL),
    // which is the failure the store is for; only an OS crash may lose the last commits.
    yield* sql`PRAGMA synchronous = NORMAL`.pipe(Effect.catchAll(storeFailure("open")))
    yield* Migrations.run.pipe(
      Effect.mapError((error) => new StoreFailure({ operation: "migrate", reason: error.message }))
    )
    const wakeupHub = yield* PubSub.sliding<void>(1)
    const wake = PubSub.publish(wakeupHub, undefined)

    const immediate = SqlClient.makeWithTransaction({
      transactionTag: SqlClient.TransactionConnection,
      spanAttributes: [["db.system.name", "sqlite"]],
      acquireConnection: Effect.flatMap(
        Scope.make(),
        (scope) => Effect.map(Scope.extend(sql.reserve, scope), (conn) => [scope, conn] as const)
      ),
      begin: (conn) => conn.executeUnprepared("BEGIN IMMEDIATE", [], undefined),
      savepoint: (conn, id) => conn.executeUnprepared(`SAVEPOINT bulwark_${id}`, [], undefined),
      commit: (conn) => conn.executeUnprepared("COMMIT", [], undefined),
      rollback: (conn) => conn.executeUnprepared("ROLLBACK", [], undefined),
      rollbackSavepoint: (conn, id) => conn.executeUnprepared(`ROLLBACK TO SAVEPOINT bulwark_${id}`, [], undefined)
    })

    const named = <A, E, R>(
      operation: string,
      effect: Effect.Effect<A, E, R>
    ): Effect.Effect<A, Exclude<E, SqlError> | StoreFailure, R> =>
      Effect.withSpan(
        Effect.catchAll(
          effect,
          (error): Effect.Effect<never, Exclude<E, SqlError> | StoreFailure> =>
            error instanceof SqlError ? storeFailure(operation)(error) : Effect.fail(error as Exclude<E, SqlError>)
        ),
        `JobStore.sqlite.${operation}`
      )

    /** A write: one IMMEDIATE transaction, SqlError named after the operation. */
    const writing = <A, E, R>(
      operation: string,
      effect: Effect.Effect<A, E, R>
    ): Effect.Effect<A, Exclude<E, SqlError> | StoreFailure, R> => named(operation, immediate(effect))

    const reading = <A, E, R>(operation: string, effect: Effect.Effect<A, E, R>) => named(operation, effect)

    /** Reserves `n` revisions; returns the first. */
    const revisions = (n: number) =>
      Effect.map(
        sql<
          { revision: number }
        >`UPDATE bulwark_jobs_meta SET revision = revision + ${n} WHERE id = 1 RETURNING revision`,
        (rows) => rows[0]!.revision - n + 1
      )

    const selectOne = (operation: string, id: string) =>
      Effect.flatMap(sql<Row>`SELECT * FROM bulwark_jobs WHERE id = ${id}`, decode(operation))

    /** The job if `token` is its current lease, else `LeaseLost`. */
    const held = (operation: string, id: JobId, token: string) =>
      Effect.flatMap(
        sql<Row>`SELECT * FROM bulwark_jobs WHERE id = ${id} AND state = 'running' AND lease_token = ${token}`,
        (rows): Effect.Effect<ReadonlyArray<JobRecord>, LeaseLost | StoreFailure> =>
          rows.length === 0 ? Effect.fail(new LeaseLost({ id, operation })) : decode(operation)(rows)
      ).pipe(Effect.map((records) => records[0]!))

    /** An UPDATE of a held job, its lease checked again in the WHERE clause. */
    const updateHeld = (
      operation: string,
      id: JobId,
      token: string,
      set: (revision: number) => Statement.RecordUpdateHelperSingle
    ): Effect.Effect<JobRecord, LeaseLost | StoreFailure | SqlError> =>
      Effect.flatMap(revisions(1), (revision) =>
        sql<Row>`UPDATE bulwark_jobs SET ${set(revision)}
        WHERE id = ${id} AND state = 'running' AND lease_token = ${token} RETURNING *`).pipe(
          Effect.flatMap((rows): Effect.Effect<ReadonlyArray<JobRecord>, LeaseLost | StoreFailure> =>
            rows.length === 0 ? Effect.fail(new LeaseLost({ id, operation })) : decode(operation)(rows)
          ),
          Effect.map((records) => records[0]!)
        )

    const clearedLease = { lease_owner: null, lease_token: null, lease_expires_at: null }

    const enqueue = (job: NewJob, options: { readonly now: number; readonly dedupe?: DedupeMode | undefined }) =>
      writing(
        "enqueue",
        Effect.gen(function*() {
          if (job.dedupeKey !== undefined) {
            const rows = yield* sql<Row>`SELECT * FROM bulwark_jobs WHERE dedupe_key = ${job.dedupeKey}
            AND ${sql.in("state", liveStates)}`
            if (rows.length > 0) {
              const existing = (yield* decode("enqueue")(rows))[0]!
              if (options.dedupe === "existing") return { job: existing, created: false }
              return yield* new DuplicateJob({ dedupeKey: job.dedupeKey, existing: existing.id })
            }
          }
          const revision = yield* revisions(1)
          const rows = yield* sql<Row>`INSERT INTO bulwark_jobs ${
            sql.insert({
              id: job.id,
              type: job.type,
              queue: job.queue,
              state: job.runAt > options.now ? "scheduled" : "queued",
              payload: json(job.payload),
              priority: job.priority,
              attempts: 0,
              max_attempts: job.maxAttempts,
              rate_limited: 0,
              max_rate_limited: job.maxRateLimited,
              run_at: job.runAt,
              created_at: options.now,
              updated_at: options.now,
              revision,
              dedupe_key: job.dedupeKey ?? null,
              errors: "[]",
              steps: "{}"
            })
          } RETURNING *`
          return { job: (yield* decode("enqueue")(rows))[0]!, created: true }
        })
      ).pipe(Effect.tap(({ created }) => created ? wake : Effect.void))

    const claimQueue = (queue: string, limit: number, request: ClaimRequest, token: () => string) =>
      Effect.gen(function*() {
        const now = request.now
        // A job that keeps killing its worker must not loop forever.
        const exhausted = yield* Effect.flatMap(
          sql<Row>`SELECT * FROM bulwark_jobs WHERE queue = ${queue} AND state = 'running'
          AND lease_expires_at <= ${now} AND attempts >= max_attempts`,
          decode("claim")
        )
        for (const record of exhausted) {
          const revision = yield* revisions(1)
          yield* sql`UPDATE bulwark_jobs SET ${
            sql.update({
              state: "failed",
              ...clearedLease,
              errors: JSON.stringify([...record.errors, leaseExpiredError(record, now)]),
              finished_at: now,
              updated_at: now,
              revision
            })
          } WHERE sequence = ${record.sequence}`
        }
        const due = yield* Effect.flatMap(
          sql<Row>`SELECT * FROM bulwark_jobs WHERE queue = ${queue} AND ${sql.in("state", liveStates)}
          AND (state = 'queued' OR (state IN ('scheduled', 'retrying') AND run_at <= ${now})
            OR (state = 'running' AND lease_expires_at <= ${now}))
          ORDER BY priority, run_at, sequence LIMIT ${limit}`,
          decode("claim")
        )
        if (due.length === 0) return []
        let revision = yield* revisions(due.length)
        const claimed: Array<JobRecord> = []
        for (const record of due) {
          const errors: ReadonlyArray<StoredError> = record.state === "running"
            ? [...record.errors, leaseExpiredError(record, now)]
            : record.errors
          const rows = yield* sql<Row>`UPDATE bulwark_jobs SET ${
            sql.update({
              state: "running",
              attempts: record.attempts + 1,
              lease_owner: request.owner,
              lease_token: token(),
              lease_expires_at: now + request.leaseMillis,
              errors: JSON.stringify(errors),
              started_at: now,
              updated_at: now,
              revision: revision++
            })
          } WHERE sequence = ${record.sequence} RETURNING *`
          claimed.push(...(yield* decode("claim")(rows)))
        }
        return claimed
      })

    const claim = (request: ClaimRequest) =>
      Effect.gen(function*() {
        const base = (yield* makeToken).slice(0, 24)
        let next = 0
        const token = () => base + (next++).toString(16).padStart(8, "0")
        return yield* writing(
          "claim",
          Effect.map(
            Effect.forEach(
              request.queues.filter((q) => q.limit > 0),
              ({ limit, queue }) => claimQueue(queue, limit, request, token)
            ),
            (batches): ReadonlyArray<JobRecord> => batches.flat()
          )
        )
      })

    const heartbeat = (
      id: JobId,
      token: string,
      expiresAt: number,
      now: number
    ): Effect.Effect<void, LeaseLost | StoreFailure> =>
      writing(
        "heartbeat",
        updateHeld(
          "heartbeat",
          id,
          token,
          (revision) => sql.update({ lease_expires_at: expiresAt, updated_at: now, revision })
        )
      ).pipe(Effect.asVoid)

    const complete = (id: JobId, token: string, result: unknown, now: number) =>
      writing(
        "complete",
        updateHeld("complete", id, token, (revision) =>
          sql.update({
            state: "succeeded",
            ...clearedLease,
            result: json(result),
            finished_at: now,
            updated_at: now,
            revision
          }))
      )

    const fail = (id: JobId, token: string, error: StoredError, outcome: Outcome, now: number) =>
      writing(
        "fail",
        Effect.flatMap(held("fail", id, token), (record) => {
          const errors = JSON.stringify([...record.errors, error])
          return updateHeld("fail", id, token, (revision) =>
            outcome._tag === "Fail"
              ? sql.update({ state: "failed", ...clearedLease, errors, finished_at: now, updated_at: now, revision })
              : sql.update({
                state: "retrying",
                ...clearedLease,
                run_at: outcome.runAt,
                attempts: outcome.counted ? record.attempts : record.attempts - 1,
                rate_limited: outcome.counted ? record.rateLimited : record.rateLimited + 1,
                errors,
                updated_at: now,
                revision
              }))
        })
      ).pipe(Effect.tap(wake))

    const release = (id: JobId, token: string, now: number) =>
      writing(
        "release",
        Effect.flatMap(held("release", id, token), (record) =>
          updateHeld("release", id, token, (revision) =>
            sql.update({
              state: "queued",
              ...clearedLease,
              attempts: record.attempts - 1,
              updated_at: now,
              revision
            })))
      ).pipe(Effect.zipLeft(wake), Effect.asVoid)

    const saveStep = (id: JobId, token: string, name: string, value: unknown, now: number) =>
      writing(
        "saveStep",
        Effect.flatMap(held("saveStep", id, token), (record) =>
          updateHeld("saveStep", id, token, (revision) =>
            sql.update({
              steps: JSON.stringify({ ...record.steps, [name]: value }),
              updated_at: now,
              revision
            })))
      ).pipe(Effect.asVoid)

    const progress = (id: JobId, token: string, value: unknown, now: number) =>
      writing(
        "progress",
        updateHeld(
          "progress",
          id,
          token,
          (revision) => sql.update({ progress: json(value), updated_at: now, revision })
        )
      ).pipe(Effect.asVoid)

    const cancel = (id: JobId, now: number) =>
      writing(
        "cancel",
        Effect.gen(function*() {
          const rows = yield* selectOne("cancel", id)
          if (rows.length === 0) return yield* new JobNotFound({ id })
          const record = rows[0]!
          if (doneStates.includes(record.state)) return record
          const revision = yield* revisions(1)
          const updated = yield* sql<Row>`UPDATE bulwark_jobs SET ${
            sql.update({ state: "cancelled", ...clearedLease, finished_at: now, updated_at: now, revision })
          } WHERE sequence = ${record.sequence} RETURNING *`
          return (yield* decode("cancel")(updated))[0]!
        })
      )

    const get = (id: JobId) =>
      reading(
        "get",
        Effect.flatMap(
          selectOne("get", id),
          (records): Effect.Effect<JobRecord, JobNotFound> =>
            records.length === 0 ? Effect.fail(new JobNotFound({ id })) : Effect.succeed(records[0]!)
        )
      )

    const list = (filter: JobFilter, page: PageRequest) =>
      reading(
        "list",
        Effect.gen(function*() {
          const limit = Math.max(0, page.limit ?? defaultPageLimit)
          const clauses = [
            sql`sequence > ${page.after ?? 0}`,
            ...(filter.types !== undefined ? [sql.in("type", filter.types)] : []),
            ...(filter.states !== undefined ? [sql.in("state", filter.states)] : []),
            ...(filter.createdFrom !== undefined ? [sql`created_at >= ${filter.createdFrom}`] : []),
            ...(filter.createdTo !== undefined ? [sql`created_at < ${filter.createdTo}`] : [])
          ]
          const rows = yield* sql<Row>`SELECT * FROM bulwark_jobs WHERE ${sql.and(clauses)}
          ORDER BY sequence LIMIT ${limit + 1}`
          const jobs = yield* decode("list")(rows.slice(0, limit))
          return { jobs, next: rows.length > limit && jobs.length > 0 ? jobs[jobs.length - 1]!.sequence : undefined }
        })
      )

    const changes = (after: number, limit: number) =>
      reading(
        "changes",
        sql.withTransaction(Effect.gen(function*() {
          const rows = yield* sql<Row>`SELECT * FROM bulwark_jobs WHERE revision > ${after}
          ORDER BY revision LIMIT ${limit}`
          const jobs = yield* decode("changes")(rows)
          if (jobs.length === limit && limit > 0) return { jobs, revision: jobs[jobs.length - 1]!.revision }
          const meta = yield* sql<{ revision: number }>`SELECT revision FROM bulwark_jobs_meta WHERE id = 1`
          return { jobs, revision: Math.max(after, meta[0]!.revision) }
        }))
      )

    const prune = (options: { readonly finishedBefore?: number | undefined; readonly keep?: number | undefined }) =>
      writing(
        "prune",
        Effect.gen(function*() {
          let deleted = 0
          if (options.finishedBefore !== undefined) {
            const rows = yield* sql`DELETE FROM bulwark_jobs WHERE ${sql.in("state", doneStates)}
            AND finished_at < ${options.finishedBefore} RETURNING sequence`
            deleted += rows.length
          }
          if (options.keep !== undefined) {
            const rows = yield* sql`DELETE FROM bulwark_jobs WHERE sequence IN (
            SELECT sequence FROM bulwark_jobs WHERE ${sql.in("state", doneStates)}
            ORDER BY finished_at DESC, sequence DESC LIMIT -1 OFFSET ${Math.max(0, options.keep)}
          ) RETURNING sequence`
            deleted += rows.length
          }
          return deleted
        })
      )

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
      get,
      list,
      changes,
      prune,
      wakeups: Stream.fromPubSub(wakeupHub)
    } satisfies Service
  })
