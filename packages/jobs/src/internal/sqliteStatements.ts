/**
 * The SQLite store's operations as synchronous functions over prepared
 * statements, each meant to run inside one transaction (the caller's):
 * every write bumps the revision counter row once per job it writes, and
 * every lease holder's write checks the token in its UPDATE's WHERE clause.
 * A refused write throws its typed error (`LeaseLost`, `DuplicateJob`,
 * `JobNotFound`), which rolls the transaction back, revision bump included.
 *
 * @internal
 */
import type { DedupeMode, JobFilter, JobId, JobRecord, NewJob, PageRequest, StoredError } from "../Job.js"
import { DuplicateJob, JobNotFound, LeaseLost } from "../JobErrors.js"
import type { ClaimRequest, Outcome } from "../JobStore.js"
import type { Database } from "./sqliteDriver.js"
import { fromRow, json, type Row } from "./sqliteRows.js"
import { defaultPageLimit, leaseExpiredError } from "./storeCommon.js"

const live = "('scheduled', 'queued', 'running', 'retrying')"
const done = "('succeeded', 'failed', 'cancelled')"
const noLease = "lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL"
const isHeld = "id = ? AND state = 'running' AND lease_token = ?"

/** @internal */
export type Statements = ReturnType<typeof make>

/**
 * Prepares every statement once (better-sqlite3 keeps them compiled for the
 * connection's life).
 *
 * @internal
 */
export const make = (db: Database) => {
  const bump = db.prepare<{ revision: number }>(
    "UPDATE bulwark_jobs_meta SET revision = revision + ? WHERE id = 1 RETURNING revision"
  )
  const currentRevision = db.prepare<{ revision: number }>("SELECT revision FROM bulwark_jobs_meta WHERE id = 1")
  const byId = db.prepare<Row>("SELECT * FROM bulwark_jobs WHERE id = ?")
  const heldRow = db.prepare<Row>(`SELECT * FROM bulwark_jobs WHERE ${isHeld}`)
  const byDedupeKey = db.prepare<Row>(`SELECT * FROM bulwark_jobs WHERE dedupe_key = ? AND state IN ${live}`)
  const insert = db.prepare<Row>(`INSERT INTO bulwark_jobs (id, type, queue, state, payload, priority, attempts,
    max_attempts, rate_limited, max_rate_limited, run_at, created_at, updated_at, revision, dedupe_key, errors, steps)
    VALUES (?, ?, ?, ?, ?, ?, 0, ?, 0, ?, ?, ?, ?, ?, ?, '[]', '{}') RETURNING *`)
  const exhausted = db.prepare<Row>(`SELECT * FROM bulwark_jobs WHERE queue = ? AND state = 'running'
    AND lease_expires_at <= ? AND attempts >= max_attempts`)
  const failExhausted = db.prepare(`UPDATE bulwark_jobs SET state = 'failed', ${noLease}, errors = ?,
    finished_at = ?, updated_at = ?, revision = ? WHERE sequence = ?`)
  // The shape `JobStoreSqlite.test.ts` checks walks the claim index (no temp B-tree).
  const due = db.prepare<Row>(`SELECT * FROM bulwark_jobs WHERE queue = ? AND state IN ${live}
    AND (state = 'queued' OR (state IN ('scheduled', 'retrying') AND run_at <= ?)
      OR (state = 'running' AND lease_expires_at <= ?))
    ORDER BY priority, run_at, sequence LIMIT ?`)
  const start = db.prepare<Row>(`UPDATE bulwark_jobs SET state = 'running', attempts = attempts + 1,
    lease_owner = ?, lease_token = ?, lease_expires_at = ?, errors = coalesce(?, errors), started_at = ?,
    updated_at = ?, revision = ? WHERE sequence = ? RETURNING *`)
  const extend = db.prepare(`UPDATE bulwark_jobs SET lease_expires_at = ?, updated_at = ?, revision = ?
    WHERE ${isHeld}`)
  const succeed = db.prepare<Row>(`UPDATE bulwark_jobs SET state = 'succeeded', ${noLease}, result = ?,
    finished_at = ?, updated_at = ?, revision = ? WHERE ${isHeld} RETURNING *`)
  const failFinal = db.prepare<Row>(`UPDATE bulwark_jobs SET state = 'failed', ${noLease}, errors = ?,
    finished_at = ?, updated_at = ?, revision = ? WHERE ${isHeld} RETURNING *`)
  const failRetry = db.prepare<Row>(`UPDATE bulwark_jobs SET state = 'retrying', ${noLease}, run_at = ?,
    attempts = attempts - ?, rate_limited = rate_limited + ?, errors = ?, updated_at = ?, revision = ?
    WHERE ${isHeld} RETURNING *`)
  const giveBack = db.prepare(`UPDATE bulwark_jobs SET state = 'queued', ${noLease}, attempts = attempts - 1,
    updated_at = ?, revision = ? WHERE ${isHeld}`)
  const setSteps = db.prepare(`UPDATE bulwark_jobs SET steps = ?, updated_at = ?, revision = ? WHERE ${isHeld}`)
  const setProgress = db.prepare(`UPDATE bulwark_jobs SET progress = ?, updated_at = ?, revision = ? WHERE ${isHeld}`)
  const cancelRow = db.prepare<Row>(`UPDATE bulwark_jobs SET state = 'cancelled', ${noLease}, finished_at = ?,
    updated_at = ?, revision = ? WHERE sequence = ? RETURNING *`)
  // One statement for every filter: an absent filter is a NULL parameter, a
  // list is a JSON array, so nothing is built from strings at run time.
  const listRows = db.prepare<Row>(`SELECT * FROM bulwark_jobs WHERE sequence > @after
    AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
    AND (@states IS NULL OR state IN (SELECT value FROM json_each(@states)))
    AND (@from IS NULL OR created_at >= @from) AND (@to IS NULL OR created_at < @to)
    ORDER BY sequence LIMIT @limit`)
  const changedRows = db.prepare<Row>("SELECT * FROM bulwark_jobs WHERE revision > ? ORDER BY revision LIMIT ?")
  const pruneOlder = db.prepare(`DELETE FROM bulwark_jobs WHERE state IN ${done} AND finished_at < ?`)
  const pruneBeyond = db.prepare(`DELETE FROM bulwark_jobs WHERE sequence IN (
    SELECT sequence FROM bulwark_jobs WHERE state IN ${done}
    ORDER BY finished_at DESC, sequence DESC LIMIT -1 OFFSET ?)`)

  /** Reserves `n` revisions; returns the first. */
  const revisions = (n: number): number => bump.get(n)!.revision - n + 1

  /** The one row of a lease holder's write, or `LeaseLost` (rolling the write back). */
  const heldOne = (operation: string, id: JobId, row: Row | undefined): JobRecord => {
    if (row === undefined) throw new LeaseLost({ id, operation })
    return fromRow(row)
  }
  const heldRun = (operation: string, id: JobId, changes: number): void => {
    if (changes === 0) throw new LeaseLost({ id, operation })
  }
  const heldRecord = (operation: string, id: JobId, token: string): JobRecord =>
    heldOne(operation, id, heldRow.get(id, token))

  const enqueue = (
    job: NewJob,
    options: { readonly now: number; readonly dedupe?: DedupeMode | undefined }
  ): { readonly job: JobRecord; readonly created: boolean } => {
    if (job.dedupeKey !== undefined) {
      const row = byDedupeKey.get(job.dedupeKey)
      if (row !== undefined) {
        const existing = fromRow(row)
        if (options.dedupe === "existing") return { job: existing, created: false }
        throw new DuplicateJob({ dedupeKey: job.dedupeKey, existing: existing.id })
      }
    }
    const row = insert.get(
      job.id,
      job.type,
      job.queue,
      job.runAt > options.now ? "scheduled" : "queued",
      json(job.payload),
      job.priority,
      job.maxAttempts,
      job.maxRateLimited,
      job.runAt,
      options.now,
      options.now,
      revisions(1),
      job.dedupeKey ?? null
    )
    return { job: fromRow(row!), created: true }
  }

  const claimQueue = (queue: string, limit: number, request: ClaimRequest, token: () => string) => {
    const now = request.now
    // A job that keeps killing its worker must not loop forever.
    for (const row of exhausted.all(queue, now)) {
      const record = fromRow(row)
      failExhausted.run(
        JSON.stringify([...record.errors, leaseExpiredError(record, now)]),
        now,
        now,
        revisions(1),
        record.sequence
      )
    }
    const rows = due.all(queue, now, now, limit)
    if (rows.length === 0) return []
    let revision = revisions(rows.length)
    return rows.map((row) => {
      const record = fromRow(row)
      const errors = record.state === "running"
        ? JSON.stringify([...record.errors, leaseExpiredError(record, now)])
        : null
      return fromRow(
        start.get(
          request.owner,
          token(),
          now + request.leaseMillis,
          errors,
          now,
          now,
          revision++,
          record.sequence
        )!
      )
    })
  }

  const claim = (request: ClaimRequest, token: () => string): ReadonlyArray<JobRecord> =>
    request.queues.flatMap(({ limit, queue }) => limit > 0 ? claimQueue(queue, limit, request, token) : [])

  const heartbeat = (id: JobId, token: string, expiresAt: number, now: number): void =>
    heldRun("heartbeat", id, extend.run(expiresAt, now, revisions(1), id, token).changes)

  const complete = (id: JobId, token: string, result: unknown, now: number): JobRecord =>
    heldOne("complete", id, succeed.get(json(result), now, now, revisions(1), id, token))

  const fail = (id: JobId, token: string, error: StoredError, outcome: Outcome, now: number): JobRecord => {
    const record = heldRecord("fail", id, token)
    const errors = JSON.stringify([...record.errors, error])
    return heldOne(
      "fail",
      id,
      outcome._tag === "Fail"
        ? failFinal.get(errors, now, now, revisions(1), id, token)
        : failRetry.get(
          outcome.runAt,
          outcome.counted ? 0 : 1,
          outcome.counted ? 0 : 1,
          errors,
          now,
          revisions(1),
          id,
          token
        )
    )
  }

  const release = (id: JobId, token: string, now: number): void =>
    heldRun("release", id, giveBack.run(now, revisions(1), id, token).changes)

  const saveStep = (id: JobId, token: string, name: string, value: unknown, now: number): void => {
    const record = heldRecord("saveStep", id, token)
    const steps = JSON.stringify({ ...record.steps, [name]: value })
    heldRun("saveStep", id, setSteps.run(steps, now, revisions(1), id, token).changes)
  }

  const progress = (id: JobId, token: string, value: unknown, now: number): void =>
    heldRun("progress", id, setProgress.run(json(value), now, revisions(1), id, token).changes)

  const cancel = (id: JobId, now: number): JobRecord => {
    const row = byId.get(id)
    if (row === undefined) throw new JobNotFound({ id })
    const record = fromRow(row)
    if (record.state === "succeeded" || record.state === "failed" || record.state === "cancelled") return record
    return fromRow(cancelRow.get(now, now, revisions(1), record.sequence)!)
  }

  const get = (id: JobId): JobRecord => {
    const row = byId.get(id)
    if (row === undefined) throw new JobNotFound({ id })
    return fromRow(row)
  }

  const list = (filter: JobFilter, page: PageRequest) => {
    const limit = Math.max(0, page.limit ?? defaultPageLimit)
    const rows = listRows.all({
      after: page.after ?? 0,
      types: filter.types !== undefined ? JSON.stringify(filter.types) : null,
      states: filter.states !== undefined ? JSON.stringify(filter.states) : null,
      from: filter.createdFrom ?? null,
      to: filter.createdTo ?? null,
      limit: limit + 1
    })
    const jobs = rows.slice(0, limit).map(fromRow)
    return { jobs, next: rows.length > limit && jobs.length > 0 ? jobs[jobs.length - 1]!.sequence : undefined }
  }

  const changes = (after: number, limit: number) => {
    const jobs = changedRows.all(after, limit).map(fromRow)
    if (jobs.length === limit && limit > 0) return { jobs, revision: jobs[jobs.length - 1]!.revision }
    return { jobs, revision: Math.max(after, currentRevision.get()!.revision) }
  }

  const prune = (options: { readonly finishedBefore?: number | undefined; readonly keep?: number | undefined }) =>
    (options.finishedBefore !== undefined ? pruneOlder.run(options.finishedBefore).changes : 0) +
    (options.keep !== undefined ? pruneBeyond.run(Math.max(0, options.keep)).changes : 0)

  return { enqueue, claim, heartbeat, complete, fail, release, saveStep, progress, cancel, get, list, changes, prune }
}
