import * as JobStore from "@bulwark/jobs/JobStore"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { jobId, newJob, storeContract } from "./utils/storeContract.js"

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
      expect(rows.map((row) => row["migration_id"])).toEqual([1])
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
