/**
 * The SQLite store's schema, as numbered migrations run by @effect/sql's
 * Migrator (its table `bulwark_jobs_migrations` records which ran). A
 * migration, once released, is never edited: a change is a new number.
 *
 * @internal
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

const createJobs = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // `sequence` is the rowid: submission order for free, never reused (AUTOINCREMENT).
  yield* sql`CREATE TABLE bulwark_jobs (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    payload TEXT,
    priority INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    rate_limited INTEGER NOT NULL,
    max_rate_limited INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    updated_at INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    lease_owner TEXT,
    lease_token TEXT,
    lease_expires_at INTEGER,
    dedupe_key TEXT,
    result TEXT,
    errors TEXT NOT NULL,
    progress TEXT,
    steps TEXT NOT NULL
  )`
  // Claim walks this index in claim order and stops after `limit` due rows;
  // final jobs are not in it, so a long history never slows a claim.
  yield* sql`CREATE INDEX bulwark_jobs_claim ON bulwark_jobs (queue, priority, run_at, sequence)
    WHERE state IN ('scheduled', 'queued', 'running', 'retrying')`
  yield* sql`CREATE INDEX bulwark_jobs_leases ON bulwark_jobs (queue, lease_expires_at) WHERE state = 'running'`
  // A dedupe key belongs to at most one job that is not final.
  yield* sql`CREATE UNIQUE INDEX bulwark_jobs_dedupe ON bulwark_jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('scheduled', 'queued', 'running', 'retrying')`
  yield* sql`CREATE INDEX bulwark_jobs_revision ON bulwark_jobs (revision)`
  yield* sql`CREATE INDEX bulwark_jobs_finished ON bulwark_jobs (finished_at)
    WHERE state IN ('succeeded', 'failed', 'cancelled')`
  yield* sql`CREATE TABLE bulwark_jobs_meta (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL)`
  yield* sql`INSERT INTO bulwark_jobs_meta (id, revision) VALUES (1, 0)`
})

const traceparentAndCounts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // The submitter's W3C traceparent, for the attempts' span links in any process.
  yield* sql`ALTER TABLE bulwark_jobs ADD COLUMN traceparent TEXT`
  // `counts` (COUNT … GROUP BY state) walks this index instead of the table.
  yield* sql`CREATE INDEX bulwark_jobs_state ON bulwark_jobs (state)`
})

/** @internal */
export const run = Migrator.make({})({
  loader: Migrator.fromRecord({
    "0001_create_jobs": createJobs,
    "0002_traceparent_and_counts": traceparentAndCounts
  }),
  table: "bulwark_jobs_migrations"
})
