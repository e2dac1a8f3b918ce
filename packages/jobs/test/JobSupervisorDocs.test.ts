import { Errors } from "@bulwark/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Schema } from "effect"
import * as JobStore from "../src/JobStore.js"
import * as JobSupervisor from "../src/JobSupervisor.js"
import * as JobType from "../src/JobType.js"
import { expectDocRegions } from "./utils/docs.js"
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
})
