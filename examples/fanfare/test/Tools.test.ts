import { JobStore, JobSupervisor } from "@bulwark/jobs"
import type { Job } from "@bulwark/jobs"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, TestClock } from "effect"
import { makeCompose } from "../src/Composition.js"
import * as GpuServers from "../src/GpuServers.js"
import * as Tools from "../src/Tools.js"
import * as Workers from "../src/Workers.js"

const compose = makeCompose()
const request = { title: "a short fanfare", maxTokens: 32, temperature: 1 }

/** The tools' supervisor on a memory store, and a way to start a worker on the same store. */
const setup = Effect.gen(function*() {
  const store = yield* Layer.build(JobStore.layerMemory)
  const tools = yield* Workers.tools.pipe(Effect.provide(store))
  const startWorker = Effect.gen(function*() {
    const servers = yield* GpuServers.start({ serviceTime: "5ms", millisPerToken: 0 })
    return yield* Workers.start({ name: "worker-1", compose, orpheus: GpuServers.client(servers.urls) }).pipe(
      Effect.provide(store)
    )
  })
  return { tools, startWorker }
})

describe("job tools", () => {
  it.scopedLive("submit answers an id at once; status, poll, wait and list follow the job to complete", () =>
    Effect.gen(function*() {
      const { startWorker, tools } = yield* setup
      yield* Effect.gen(function*() {
        const id = yield* Tools.submit(compose, request)
        const before = yield* Tools.status(id)
        expect(before).toMatchObject({ jobId: id, status: "pending", toolName: "fanfare.compose", attempts: 0 })

        // No worker yet: poll runs out its time.
        const waiting = yield* Tools.poll([id], { timeoutMs: 150, intervalMs: 50 })
        expect(waiting).toMatchObject({ completed: [], pending: [id], failed: [], reason: "timeout" })
        expect(waiting.elapsedMs).toBeGreaterThanOrEqual(150)
        // An unknown id is final, as in the seed: "failed".
        const unknown = "no-such-job" as Job.JobId
        const either = yield* Tools.poll([id, unknown], { timeoutMs: 150 })
        expect(either).toMatchObject({ pending: [id], failed: [unknown], reason: "job_complete" })

        yield* startWorker
        const done = yield* Tools.poll([id], { timeoutMs: 10_000, mode: "all", intervalMs: 20 })
        expect(done).toMatchObject({ completed: [id], pending: [], failed: [], reason: "job_complete" })

        const job = yield* Tools.wait(compose, id, "10 seconds")
        expect(job.status).toBe("complete")
        expect(job.steps).toEqual(["generate", "continue", "bridge", "loops"])
        expect(job.result?.title).toBe("a short fanfare")
        expect(job.completedAt).toBeGreaterThanOrEqual(job.startedAt!)
        expect((yield* Tools.list).map((info) => info.jobId)).toEqual([id])
      }).pipe(Effect.provideService(JobSupervisor.JobSupervisor, tools))
    }).pipe(Effect.provide(Logger.remove(Logger.defaultLogger))))

  it.scoped("status of an unknown job fails with JobNotFound; wait gives up after its timeout, the job going on", () =>
    Effect.gen(function*() {
      const { tools } = yield* setup
      yield* Effect.gen(function*() {
        const missing = yield* Effect.flip(Tools.status("nope" as Job.JobId))
        expect(missing._tag).toBe("JobNotFound")
        const id = yield* Tools.submit(compose, request)
        const fiber = yield* Effect.fork(Effect.flip(Tools.wait(compose, id, "5 seconds")))
        yield* TestClock.adjust("5 seconds")
        const timedOut = yield* Fiber.join(fiber)
        expect(timedOut._tag).toBe("WaitTimedOut")
        expect((yield* Tools.status(id)).status).toBe("pending")
      }).pipe(Effect.provideService(JobSupervisor.JobSupervisor, tools))
    }))

  it.effect("sleep is capped at 30 seconds, as the seed's", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(Tools.sleep(90_000))
      yield* TestClock.adjust("30 seconds")
      const slept = yield* Fiber.join(fiber)
      expect(slept).toEqual({ sleptMs: 30_000, completedAt: 30_000 })
    }))
})
