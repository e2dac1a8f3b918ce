import * as JobStore from "@bulwark/jobs/JobStore"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { jobId, newJob, storeContract } from "./utils/storeContract.js"
import { recordingTracer } from "./utils/tracing.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "bulwark-jobs-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const tempStore = () =>
  Layer.unwrapScoped(Effect.map(tempDir, (dir) => JobStore.layerSqlite({ filename: path.join(dir, "jobs.db") })))

storeContract("sqlite", tempStore)

/** Opens the store on `filename` for the length of `use`, then closes the file. */
const withStore = <A, E>(filename: string, use: (store: JobStore.Service) => Effect.Effect<A, E>) =>
  Effect.scoped(
    Effect.flatMap(Layer.build(JobStore.layerSqlite({ filename })), (context) =>
      use(Context.get(context, JobStore.JobStore)))
  )

describe("sqlite store", () => {
  it.scoped("a store file survives closing and reopening: jobs, leases and revisions intact", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "jobs.db")
      const before = yield* withStore(filename, (store) =>
        Effect.gen(function*() {
          yield* store.enqueue(newJob(1, { dedupeKey: "k" }), { now: 0 })
          yield* store.enqueue(newJob(2), { now: 0 })
          const [running] = yield* store.claim({
            queues: [{ queue: "q", limit: 1 }],
            owner: "dead",
            now: 1,
            leaseMillis: 100
          })
          yield* store.saveStep(running!.id, running!.lease!.token, "generate", { piece: 1 }, 2)
          return { job1: yield* store.get(jobId(1)), cursor: (yield* store.changes(0, 100)).revision }
        }))
      yield* withStore(filename, (store) =>
        Effect.gen(function*() {
          expect(yield* store.get(jobId(1))).toEqual(before.job1)
          expect((yield* store.changes(0, 100)).revision).toBe(before.cursor)
          // The dead worker's lease expires; the job runs again with its step kept.
          const [again] = yield* store.claim({
            queues: [{ queue: "q", limit: 1 }],
            owner: "w",
            now: 101,
            leaseMillis: 100
          })
          expect(again).toMatchObject({ id: "job-1", attempts: 2, steps: { generate: { piece: 1 } } })
          expect(again!.revision).toBeGreaterThan(before.cursor)
          const dup = yield* Effect.flip(store.enqueue(newJob(3, { dedupeKey: "k" }), { now: 102 }))
          expect(dup).toEqual(new JobStore.DuplicateJob({ dedupeKey: "k", existing: "job-1" }))
        }))
    }))

  it.scoped("migrations run once: reopening does not re-create the schema", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "jobs.db")
      yield* withStore(filename, () => Effect.void)
      yield* withStore(filename, () => Effect.void)
      const rows = yield* Effect.scoped(Effect.flatMap(
        Layer.build(SqliteClient.layer({ filename })),
        (context) => Context.get(context, SqliteClient.SqliteClient)`SELECT * FROM bulwark_jobs_migrations`
      ))
      expect(rows.map((row) => row["migration_id"])).toEqual([1, 2])
    }))

  it.scoped("the claim query walks the claim index instead of the table", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "jobs.db")
      yield* withStore(filename, () => Effect.void)
      const plan = yield* Effect.scoped(Effect.flatMap(
        Layer.build(SqliteClient.layer({ filename })),
        (context) =>
          Context.get(
            context,
            SqliteClient.SqliteClient
          )`EXPLAIN QUERY PLAN SELECT * FROM bulwark_jobs WHERE queue = 'q'
            AND state IN ('scheduled', 'queued', 'running', 'retrying')
            AND (state = 'queued' OR (state IN ('scheduled', 'retrying') AND run_at <= 5)
              OR (state = 'running' AND lease_expires_at <= 5))
            ORDER BY priority, run_at, sequence LIMIT 10`
      ))
      const detail = plan.map((row) => String(row["detail"])).join("\n")
      expect(detail).toContain("bulwark_jobs_claim")
      expect(detail).not.toContain("TEMP B-TREE")
    }))

  it.scoped("counts walks the state index (a covering index scan), not the table", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "jobs.db")
      yield* withStore(filename, () => Effect.void)
      const plan = yield* Effect.scoped(Effect.flatMap(
        Layer.build(SqliteClient.layer({ filename })),
        (context) =>
          Context.get(context, SqliteClient.SqliteClient)`EXPLAIN QUERY PLAN
            SELECT state, count(*) AS n FROM bulwark_jobs GROUP BY state`
      ))
      const detail = plan.map((row) => String(row["detail"])).join("\n")
      expect(detail).toContain("COVERING INDEX bulwark_jobs_state")
      expect(detail).not.toContain("TEMP B-TREE")
    }))

  it.scoped("migration 0002 upgrades a file of the first release: its jobs read back, new jobs keep a traceparent", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "jobs.db")
      yield* withStore(filename, (store) => Effect.asVoid(store.enqueue(newJob("old"), { now: 0 })))
      // Back to the schema of migration 0001 alone, as a file written by the first release.
      yield* Effect.scoped(Effect.flatMap(
        Layer.build(SqliteClient.layer({ filename })),
        (context) => {
          const sql = Context.get(context, SqliteClient.SqliteClient)
          return Effect.all([
            sql`DROP INDEX bulwark_jobs_state`,
            sql`ALTER TABLE bulwark_jobs DROP COLUMN traceparent`,
            sql`DELETE FROM bulwark_jobs_migrations WHERE migration_id = 2`
          ])
        }
      ))
      const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
      yield* withStore(filename, (store) =>
        Effect.gen(function*() {
          const old = yield* store.get(jobId("old"))
          expect(old).toMatchObject({ state: "queued", payload: { n: "old" } })
          expect(old.traceparent).toBeUndefined()
          yield* store.enqueue(newJob("new", { traceparent }), { now: 1 })
          expect((yield* store.get(jobId("new"))).traceparent).toBe(traceparent)
          expect((yield* store.counts).queued).toBe(2)
        }))
    }))

  it.scoped("writes of one scheduler round share one commit; a refused write rolls back alone", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "jobs.db")
      const { spans, tracer } = yield* recordingTracer
      yield* withStore(filename, (store) =>
        Effect.gen(function*() {
          yield* store.enqueue(newJob("taken", { dedupeKey: "k" }), { now: 0 })
          const before = (yield* store.changes(0, 1000)).revision
          // 50 submissions at once, one of them refused (its dedupe key is taken).
          const results = yield* Effect.forEach(
            Array.from({ length: 50 }, (_, i) => i),
            (i) => Effect.either(store.enqueue(newJob(i, i === 25 ? { dedupeKey: "k" } : {}), { now: 1 })),
            { concurrency: "unbounded" }
          )
          expect(results.filter((result) => result._tag === "Left").map((result) => result.left)).toEqual([
            new JobStore.DuplicateJob({ dedupeKey: "k", existing: "job-taken" })
          ])
          const written = yield* store.changes(before, 1000)
          expect(written.jobs.length).toBe(49)
          expect(new Set(written.jobs.map((job) => job.revision)).size).toBe(49)
          expect(yield* Effect.either(store.get(jobId(25)))).toSatisfy((either) => either._tag === "Left")
          expect((yield* store.counts).queued).toBe(50)
        }).pipe(Effect.withTracer(tracer)))
      const commits = spans.filter((span) => span.name === "JobStore.sqlite.commit")
      expect(commits.map((span) => span.attributes.get("store.batch"))).toContain(50)
      // Everything reported stored is in the file.
      yield* withStore(filename, (store) => Effect.map(store.counts, (counts) => expect(counts.queued).toBe(50)))
    }))

  it.scoped("a batch waits out another connection's write lock, then commits every write", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "jobs.db")
      yield* withStore(filename, (store) =>
        Effect.gen(function*() {
          const other = Context.get(yield* Layer.build(SqliteClient.layer({ filename })), SqliteClient.SqliteClient)
          yield* other`BEGIN IMMEDIATE`
          const writes = yield* Effect.fork(Effect.forEach(
            Array.from({ length: 10 }, (_, i) => i),
            (i) => store.enqueue(newJob(i), { now: 0 }),
            { concurrency: "unbounded" }
          ))
          yield* TestClock.adjust(1_000)
          // Still locked: nothing is written, nobody is told otherwise.
          expect(writes.unsafePoll()).toBeNull()
          yield* other`COMMIT`
          yield* TestClock.adjust(1_000)
          expect((yield* Fiber.join(writes)).map((result) => result.created)).toEqual(Array(10).fill(true))
          expect((yield* store.counts).queued).toBe(10)
        }).pipe(Effect.scoped))
    }))

  it.scoped("throughput: 5k jobs enqueued, claimed in batches and completed", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "jobs.db")
      yield* withStore(filename, (store) =>
        Effect.gen(function*() {
          const n = 5000
          const started = performance.now()
          for (let i = 0; i < n; i++) yield* store.enqueue(newJob(i), { now: 0 })
          const enqueued = performance.now()
          let done = 0
          for (;;) {
            const jobs = yield* store.claim({
              queues: [{ queue: "q", limit: 100 }],
              owner: "w",
              now: 1,
              leaseMillis: 1000
            })
            if (jobs.length === 0) break
            for (const job of jobs) yield* store.complete(job.id, job.lease!.token, null, 2)
            done += jobs.length
          }
          const finished = performance.now()
          console.log(
            `sqlite: enqueue ${(n / (enqueued - started) * 1000).toFixed(0)}/s, claim+complete ${
              (n / (finished - enqueued) * 1000).toFixed(0)
            }/s`
          )
          expect(done).toBe(n)
        }))
    }), 60_000)

  it.effect("an unusable file is a StoreFailure naming the operation", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(JobStore.layerSqlite({ filename: "/nonexistent-dir/x/jobs.db" })))
      )
      expect(error._tag).toBe("StoreFailure")
      expect(error.operation).toBe("open")
    }))
})
