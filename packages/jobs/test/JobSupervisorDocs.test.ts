import { Errors } from "@bulwark/core"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Schema } from "effect"
import * as JobStore from "../src/JobStore.js"
import * as JobSupervisor from "../src/JobSupervisor.js"
import * as JobType from "../src/JobType.js"
import { advance } from "./utils/supervisor.js"

let busy = 1

// #region declare
const Compose = JobType.make({
  name: "compose",
  payload: Schema.Struct({ prompt: Schema.String }),
  result: Schema.Struct({ url: Schema.String }),
  error: Schema.Union(Errors.RateLimited, Errors.Rejected),
  // Seed 001's defaults, spelled out: 5 attempts, 1 s doubling to 60 s.
  maxAttempts: 5,
  base: "1 second",
  maxDelay: "60 seconds",
  concurrency: 2,
  handler: ({ prompt }) =>
    Effect.gen(function*() {
      yield* JobType.reportProgress({ stage: "generating" })
      if (busy-- > 0) return yield* new Errors.RateLimited({ service: "orpheus", retryAfter: Duration.seconds(30) })
      return { url: `https://example.test/${encodeURIComponent(prompt)}.wav` }
    })
})
// #endregion

describe("docs/jobs.md", () => {
  it("shows only tested code", () => expectDocRegions("jobs.md", __filename))

  it.effect("submit and wait", () =>
    Effect.gen(function*() {
      // #region submit
      const program = Effect.gen(function*() {
        const jobs = yield* JobSupervisor.JobSupervisor
        const id = yield* jobs.submit(Compose, { prompt: "a fanfare" }, {
          dedupe: { key: "client-job-42", mode: "existing" }
        })
        // GPU busy: re-queued after 30 s without using an attempt.
        return yield* jobs.wait(Compose, id, { timeout: "5 minutes" })
      })

      const JobsLive = JobSupervisor.layer({ types: [Compose] }).pipe(Layer.provide(JobStore.layerMemory))

      const result = program.pipe(Effect.provide(JobsLive))
      // #endregion
      const fiber = yield* Effect.fork(result)
      yield* advance(31_000, 1_000)
      expect(yield* Fiber.join(fiber)).toEqual({ url: "https://example.test/a%20fanfare.wav" })
    }))

  it.effect("counts and retry", () =>
    Effect.gen(function*() {
      let rejections = 1
      const Publish = JobType.make({
        name: "publish",
        payload: Schema.Struct({ url: Schema.String }),
        result: Schema.String,
        handler: ({ url }) =>
          rejections-- > 0 ? Effect.fail(new Errors.Rejected({ status: 422 })) : Effect.succeed(`published ${url}`)
      })
      const JobsLive = JobSupervisor.layer({ types: [Publish] }).pipe(Layer.provide(JobStore.layerMemory))
      const outcome = Effect.gen(function*() {
        const jobs = yield* JobSupervisor.JobSupervisor
        const id = yield* jobs.submit(Publish, { url: "https://example.test/a.wav" })
        yield* Effect.ignore(jobs.wait(Publish, id))
        // #region retry
        // After fixing what made them fail: run every failed job again.
        const rerun = Effect.gen(function*() {
          const jobs = yield* JobSupervisor.JobSupervisor
          const { failed } = yield* jobs.counts
          const page = yield* jobs.list({ states: ["failed"] }, { limit: failed })
          for (const job of page.jobs) yield* jobs.retry(job.id)
          return page.jobs.length
        })
        // #endregion
        const retried = yield* rerun
        const result = yield* jobs.wait(Publish, id)
        const refused = yield* Effect.flip(jobs.retry(id))
        return { counts: yield* jobs.counts, refused, result, retried }
      }).pipe(Effect.provide(JobsLive))
      const fiber = yield* Effect.fork(outcome)
      yield* advance(1_000)
      const { counts, refused, result, retried } = yield* Fiber.join(fiber)
      expect(retried).toBe(1)
      expect(result).toBe("published https://example.test/a.wav")
      expect(counts).toMatchObject({ succeeded: 1, failed: 0 })
      expect(refused).toMatchObject({ _tag: "JobNotRetryable", state: "succeeded" })
    }))
})
