import * as JobStore from "@bulwark/jobs/JobStore"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { newJob, storeContract } from "./utils/storeContract.js"

storeContract("memory", () => JobStore.layerMemory)

describe("memory store", () => {
  it.effect(
    "claims from a large queue without scanning it: 100k jobs through in bounded time",
    () =>
      Effect.gen(function*() {
        const store = yield* JobStore.JobStore
        const n = 100_000
        for (let i = 0; i < n; i++) yield* store.enqueue(newJob(i, { priority: i % 3 }), { now: 0 })
        const started = performance.now()
        let done = 0
        while (done < n) {
          const jobs = yield* store.claim({
            queues: [{ queue: "q", limit: 500 }],
            owner: "w",
            now: 1,
            leaseMillis: 1000
          })
          for (const job of jobs) yield* store.complete(job.id, job.lease!.token, null, 2)
          done += jobs.length
          if (jobs.length === 0) break
        }
        expect(done).toBe(n)
        // A full scan per claim would be ~200 claims x 100k rows; this stays well under.
        expect(performance.now() - started).toBeLessThan(10_000)
      }).pipe(Effect.provide(JobStore.layerMemory)),
    30_000
  )
})
