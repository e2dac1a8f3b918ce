/**
 * The SQLite store's operations as synchronous functions over prepared
 * statements, each meant to run inside a transaction (the caller's; the
 * store runs a batch of them in one, each in a savepoint, under `batch`):
 * every write takes one revision per job it writes, and every lease holder's
 * write checks the token in its UPDATE's WHERE clause. A refused write throws
 * its typed error (`LeaseLost`, `DuplicateJob`, `JobNotFound`,
 * `JobNotRetryable`), which rolls its savepoint back.
 *
 * @internal
 */
import type { DedupeMode, JobFilter, JobId, JobRecord, JobState, NewJob, PageRequest, StoredError } from "../Job.js"
import { DuplicateJob, JobNotFound, JobNotRetryable, LeaseLost } from "../JobErrors.js"
import type { ClaimRequest, Outcome } from "../JobStore.js"
import type { Database } from "./sqliteDriver.js"
import { fromRow, json, type Row } from "./sqliteRows.js"
import { defaultPageLimit, emptyCounts, leaseExpiredError, retryableStates } from "./storeCommon.js"

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
  const bySequence = db.prepare<Row>("SELECT * FROM bulwark_jobs WHERE sequence = ?")
  const heldRow = db.prepare<Row>(`SELECT * FROM bulwark_jobs WHERE ${isHeld}`)
  const byDedupeKey = db.prepare<Row>(`SELECT * FROM bulwark_jobs WHERE dedupe_key = ? AND state IN ${live}`)
  // No RETURNING: the new record is known but for its sequence (the rowid), which is cheaper than reading it back.
  const insert = db.prepare(`INSERT INTO bulwark_jobs (id, type, queue, state, payload, priority, attempts,
    max_attempts, rate_limited, max_rate_limited, run_at, created_at, updated_at, revision, dedupe_key, errors, steps,
    traceparent) VALUES (?, ?, ?, ?, ?, ?, 0, ?, 0, ?, ?, ?, ?, ?, ?, '[]', '{}', ?)`)
  const exhausted = db.prepare<Row>(`SELECT * FROM bulwark_jobs WHERE queue = ? AND state = 'running'
    AND lease_expires_at <= ? AND attempts >= max_attempts`)
  const failExhausted = db.prepare(`UPDATE bulwark_jobs SET state = 'failed', ${noLease}, errors = ?,
    finished_at = ?, updated_at = ?, revision = ? WHERE sequence = ?`)
  // The shape `JobStoreSqlite.test.ts` checks walks the claim index (no temp B-tree).
  // Only what the claim needs of each due row: the full row is read back once, by the UPDATE's RETURNING.
  const due = db.prepare<{ sequence: number; state: string }>(`SELECT sequence, state FROM bulwark_jobs
    WHERE queue = ? AND state IN ${live}
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
  const giveBackUntil = db.prepare(`UPDATE bulwark_jobs SET state = 'scheduled', ${noLease}, attempts = attempts - 1,
    run_at = ?, updated_at = ?, revision = ? WHERE ${isHeld}`)
  const requeue = db.prepare<Row>(`UPDATE bulwark_jobs SET state = 'queued', attempts = 0, rate_limited = 0,
    run_at = ?, finished_at = NULL, updated_at = ?, revision = ? WHERE sequence = ? RETURNING *`)
  // Walks the state index (covering): no table rows are read.
  const countStates = db.prepare<{ state: string; n: number }>(
    "SELECT state, count(*) AS n FROM bulwark_jobs GROUP BY state"
  )
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

  const setRevision = db.prepare("UPDATE bulwark_jobs_meta SET revision = ? WHERE id = 1")
  /** The next free revision while `batch` runs: the counter row is read and written once per batch. */
  let nextRevision: number | undefined = undefined

  /** Reserves `n` revisions; returns the first. */
  const revisions = (n: number): number => {
    if (nextRevision === undefined) return bump.get(n)!.revision - n + 1
    const first = nextRevision
    nextRevision += n
    return first
  }

  /**
   * Runs `body` (several writes, inside the caller's transaction) with the
   * revision counter kept in memory: one read and one write of the counter
   * row instead of one per write. A write rolled back to its savepoint leaves
   * a gap in the revisions, which `changes` does not mind.
   */
  const batch = <A>(body: () => A): A => {
    const start = currentRevision.get()!.revision + 1
    nextRevision = start
    try {
      const result = body()
      if (nextRevision > start) setRevision.run(nextRevision - 1)
      return result
    } finally {
      nextRevision = undefined
    }
  }

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
    const state = job.runAt > options.now ? "scheduled" : "queued"
    const revision = revisions(1)
    const payload = json(job.payload)
    const { lastInsertRowid } = insert.run(
      job.id,
      job.type,
      job.queue,
      state,
      payload,
      job.priority,
      job.maxAttempts,
      job.maxRateLimited,
      job.runAt,
      options.now,
      options.now,
      revision,
      job.dedupeKey ?? null,
      job.traceparent ?? null
    )
    const record: JobRecord = {
      id: job.id,
      type: job.type,
      queue: job.queue,
      state,
      // The payload is the type's encoded form already (JSON values), as the memory store keeps it.
      payload: job.payload,
      priority: job.priority,
      attempts: 0,
      maxAttempts: job.maxAttempts,
      rateLimited: 0,
      maxRateLimited: job.maxRateLimited,
      runAt: job.runAt,
      createdAt: options.now,
      sequence: Number(lastInsertRowid),
      updatedAt: options.now,
      revision,
      ...(job.dedupeKey !== undefined ? { dedupeKey: job.dedupeKey } : {}),
      errors: [],
      steps: {},
      ...(job.traceparent !== undefined ? { traceparent: job.traceparent } : {})
    }
    return { job: record, created: true }
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
      // A running row here has an expired lease: its errors get a LeaseExpired entry.
      let errors: string | null = null
      if (row.state === "running") {
        const record = fromRow(bySequence.get(row.sequence)!)
        errors = JSON.stringify([...record.errors, leaseExpiredError(record, now)])
      }
      return fromRow(
        start.get(
          request.owner,
          token(),
          now + request.leaseMillis,
          errors,
          now,
          now,
          revision++,
          row.sequence
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

  const release = (id: JobId, token: string, now: number, runAt?: number): void =>
    heldRun(
      "release",
      id,
      runAt !== undefined && runAt > now
        ? giveBackUntil.run(runAt, now, revisions(1), id, token).changes
        : giveBack.run(now, revisions(1), id, token).changes
    )

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

  const retry = (id: JobId, now: number): JobRecord => {
    const row = byId.get(id)
    if (row === undefined) throw new JobNotFound({ id })
    if (!retryableStates.has(row.state as JobState)) throw new JobNotRetryable({ id, state: row.state })
    if (row.dedupe_key !== null) {
      // The key is free once a job is final: another job may hold it now.
      const holder = byDedupeKey.get(row.dedupe_key)
      if (holder !== undefined) throw new DuplicateJob({ dedupeKey: row.dedupe_key, existing: holder.id })
    }
    return fromRow(requeue.get(now, now, revisions(1), row.sequence)!)
  }

  const counts = (): Record<JobState, number> => {
    const counts = emptyCounts()
    for (const { n, state } of countStates.all()) {
      if (state in counts) counts[state as JobState] = n
    }
    return counts
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

  return {
    batch,
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
    prune
  }
}
