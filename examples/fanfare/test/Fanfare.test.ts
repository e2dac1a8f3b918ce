import { Errors } from "@bulwark/core"
import { JobStore } from "@bulwark/jobs"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Fanfare from "../src/Fanfare.js"

/** Small and fast: 64-token sections at 0.2 ms a token, so a run takes about a second. */
const fast = {
  maxTokens: 64,
  emulators: { serviceTime: "10ms", millisPerToken: 0.2, seed: 7 },
  retryBase: "20 millis",
  timeout: "30 seconds"
} as const

const quiet = Logger.remove(Logger.defaultLogger)

describe("fanfare", () => {
  it.scopedLive("every job composes its piece; the GPU-busy answers are waited out, none fails a job", () =>
    Effect.gen(function*() {
      const report = yield* Fanfare.run({
        ...fast,
        jobs: 6,
        workers: 2,
        compose: { concurrency: 3 },
        store: JobStore.layerMemory
      })
      expect(report.jobs).toHaveLength(6)
      for (const job of report.jobs) {
        expect(job.status).toBe("complete")
        // GPU busy never cost an attempt, nor re-queued the job.
        expect(job.attempts).toBe(1)
        expect(job.steps).toEqual(["generate", "continue", "bridge", "loops"])
        expect(job.result?.sections.map((s) => s.step)).toEqual(["generate", "continue", "bridge", "loops"])
      }
      const ids = report.jobs.map((job) => job.jobId)
      const gpu = Object.fromEntries(report.gpus.map(({ model, stats }) => [model, stats]))
      // Each job's calls reached each server with client_job_id = the job's id.
      for (const model of ["base", "bridge", "loops"] as const) {
        expect([...gpu[model]!.clientJobIds].sort()).toEqual([...ids].sort())
        expect(gpu[model]!.clientJobIdRequests).toBe(gpu[model]!.requests)
      }
      // Two workers on one GPU: some calls met it busy and waited.
      const busy = gpu.base!.rejections["429"] ?? 0
      expect(busy).toBeGreaterThan(0)
      expect(report.busy.total).toBe(busy)
      // Exactly the work asked for reached the GPUs: two base calls, one bridge, one loops per job.
      expect(gpu.base!.responses["200"]).toBe(12)
      expect(gpu.bridge!.responses["200"]).toBe(6)
      expect(gpu.loops!.responses["200"]).toBe(6)
      expect(gpu.base!.maxConcurrency).toBeLessThanOrEqual(2)
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("a step that succeeded is not run again when a later step fails once", () =>
    Effect.gen(function*() {
      const failed = new Set<string>()
      const report = yield* Fanfare.run({
        ...fast,
        jobs: 3,
        workers: 1,
        compose: { base: "50 millis" },
        store: JobStore.layerMemory,
        // The bridge fails once per job, as a server error the client has given up on.
        wrapOrpheus: (orpheus) => ({
          ...orpheus,
          bridge: (options) =>
            failed.has(options.clientJobId!) ? orpheus.bridge(options) : Effect.suspend(() => {
              failed.add(options.clientJobId!)
              return Effect.fail(new Errors.ServerError({ service: "orpheus-bridge", status: 500, detail: "injected" }))
            })
        })
      })
      for (const job of report.jobs) {
        expect(job.status).toBe("complete")
        expect(job.attempts).toBe(2)
      }
      const gpu = Object.fromEntries(report.gpus.map(({ model, stats }) => [model, stats]))
      // generate and continue ran once per job: the second attempt took them from the store.
      expect(gpu.base!.responses["200"]).toBe(6)
      expect(gpu.bridge!.responses["200"]).toBe(3)
      expect(failed.size).toBe(3)
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("a worker stopped mid-piece: the next run resumes the job after its stored steps", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fanfare-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const store = JobStore.layerSqlite({ filename: path.join(dir, "jobs.db") })
      const stuck = yield* Deferred.make<void>()
      // First run: the opening is generated and stored, then the process "dies" during continue.
      const first = yield* Fanfare.run({
        ...fast,
        jobs: 1,
        workers: 1,
        store,
        wrapOrpheus: (orpheus) => ({
          ...orpheus,
          continue: () => Effect.zipRight(Deferred.succeed(stuck, void 0), Effect.never)
        })
      }).pipe(Effect.scoped, Effect.fork)
      yield* Deferred.await(stuck)
      yield* Fiber.interrupt(first)

      const second = yield* Fanfare.run({ ...fast, jobs: 0, workers: 1, store })
      expect(second.resumed).toHaveLength(1)
      expect(second.jobs).toHaveLength(1)
      const [job] = second.jobs
      expect(job!.status).toBe("complete")
      // The interrupted attempt was given back, not counted.
      expect(job!.attempts).toBe(1)
      const base = second.gpus.find((gpu) => gpu.model === "base")!.stats
      // Only continue reached orpheus-base this time: generate came from the store.
      expect(base.responses["200"]).toBe(1)
      expect(base.clientJobIds).toEqual([job!.jobId])
    }).pipe(Effect.provide(quiet)))
})
