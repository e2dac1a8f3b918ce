import type { JobId, JobRecord, NewJob } from "@bulwark/jobs/Job"
import * as JobStore from "@bulwark/jobs/JobStore"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A temporary directory, removed with the scope. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "bulwark-cli-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** 2025-01-01T00:00:00Z: the seeded jobs' clock starts here. */
export const T = Date.UTC(2025, 0, 1)

const newJob = (id: string, type: string, overrides: Partial<NewJob> = {}): NewJob => ({
  id: id as JobId,
  type,
  // One queue per job, so each claim takes the job it names.
  queue: id,
  payload: { id },
  priority: 0,
  maxAttempts: 3,
  maxRateLimited: 10,
  runAt: T,
  ...overrides
})

/**
 * Five jobs, one per state a person meets, at `T` … `T + 3s`:
 *
 * - `q-1` compose, queued
 * - `s-2` compose, succeeded at T+1s
 * - `f-3` comment, failed at T+2s (1/1 attempts, a rate-limit error)
 * - `l-4` compose, scheduled for T+1h
 * - `r-5` comment, running since T+3s
 */
export const seed = (filename: string) =>
  Effect.gen(function*() {
    const store = yield* JobStore.JobStore
    const claim = (queue: string, now: number) =>
      Effect.map(
        store.claim({ queues: [{ queue, limit: 1 }], owner: "worker-1", now, leaseMillis: 30_000 }),
        (jobs) => jobs[0]!
      )
    yield* store.enqueue(newJob("q-1", "compose"), { now: T })
    yield* store.enqueue(newJob("s-2", "compose"), { now: T })
    const s = yield* claim("s-2", T + 500)
    yield* store.complete(s.id, s.lease!.token, { bars: 8 }, T + 1000)
    yield* store.enqueue(newJob("f-3", "comment", { maxAttempts: 1 }), { now: T })
    const f = yield* claim("f-3", T + 1500)
    yield* store.fail(
      f.id,
      f.lease!.token,
      { tag: "RateLimited", message: "GitHub API rate limit exceeded, retry after 60s", attempt: 1, at: T + 2000 },
      { _tag: "Fail" },
      T + 2000
    )
    yield* store.enqueue(newJob("l-4", "compose", { runAt: T + 3_600_000 }), { now: T })
    yield* store.enqueue(newJob("r-5", "comment"), { now: T })
    yield* claim("r-5", T + 3000)
  }).pipe(Effect.provide(JobStore.layerSqlite({ filename })))

/** The job as the store has it now (opens the store for this read only). */
export const read = (filename: string, id: string): Effect.Effect<JobRecord, unknown> =>
  Effect.flatMap(JobStore.JobStore, (store) => store.get(id as JobId)).pipe(
    Effect.provide(JobStore.layerSqlite({ filename }))
  )
