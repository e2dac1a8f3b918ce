import { Errors } from "@bulwark/core"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Schedule, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as JobStore from "../src/JobStore.js"
import * as JobSupervisor from "../src/JobSupervisor.js"
import * as JobType from "../src/JobType.js"
import * as Workflow from "../src/Workflow.js"
import { advance } from "./utils/supervisor.js"

const calls: Array<string> = []
let gpuBusy = 1

/** Stand-ins for the Orpheus client's tools. */
const orpheus = (tool: string, input: string) =>
  Effect.suspend(() => {
    calls.push(tool)
    if (tool === "bridge" && gpuBusy-- > 0) {
      return Effect.fail(new Errors.RateLimited({ service: "orpheus", retryAfter: Duration.seconds(30) }))
    }
    return Effect.succeed({ audio: `${input}+${tool}` })
  })

// #region declare
const Piece = Schema.Struct({ audio: Schema.String })

const Compose = JobType.make({
  name: "compose",
  payload: Schema.Struct({ prompt: Schema.String }),
  result: Piece,
  handler: ({ prompt }) =>
    Effect.gen(function*() {
      const first = yield* Workflow.step("generate", Piece, orpheus("generate", prompt))
      // A step's Effect is an ordinary Effect: it may retry on its own.
      const longer = yield* Workflow.step(
        "continue",
        Piece,
        orpheus("continue", first.audio).pipe(Effect.retry({ times: 2, schedule: Schedule.spaced("1 second") }))
      )
      // GPU busy here re-queues the job after the Retry-After; the next
      // attempt skips "generate" and "continue" and starts at "bridge".
      const bridged = yield* Workflow.step("bridge", Piece, orpheus("bridge", longer.audio))
      yield* Workflow.sleep("let-it-cool", "1 minute")
      return yield* Workflow.step("loops", Piece, orpheus("loops", bridged.audio))
    })
})
// #endregion

describe("docs/workflows.md", () => {
  it("shows only tested code", () => expectDocRegions("workflows.md", __filename))

  it.scoped("the composition resumes at the bridge after GPU busy", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bulwark-workflow-docs-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const filename = path.join(dir, "jobs.db")
      // #region run
      const JobsLive = JobSupervisor.layer({ types: [Compose] }).pipe(
        Layer.provide(JobStore.layerSqlite({ filename }))
      )

      const program = Effect.gen(function*() {
        const jobs = yield* JobSupervisor.JobSupervisor
        const id = yield* jobs.submit(Compose, { prompt: "a fanfare" })
        return yield* jobs.wait(Compose, id)
      }).pipe(Effect.provide(JobsLive))
      // #endregion
      const fiber = yield* Effect.fork(program)
      // 30 s of GPU busy, then the minute's sleep: loops runs at 90 s.
      yield* advance(85_000, 5_000)
      expect(calls).toEqual(["generate", "continue", "bridge", "bridge"])
      yield* advance(10_000, 5_000)
      expect(yield* Fiber.join(fiber)).toEqual({ audio: "a fanfare+generate+continue+bridge+loops" })
      expect(calls).toEqual(["generate", "continue", "bridge", "bridge", "loops"])
    }))

  it.scoped("a long sleep frees the worker slot", () =>
    Effect.gen(function*() {
      const checked: Array<number> = []
      const check = (round: number) => Effect.sync(() => checked.push(round))
      // #region sleep
      const Watch = JobType.make({
        name: "watch",
        payload: Schema.Struct({ rounds: Schema.Int }),
        result: Schema.Null,
        concurrency: 1,
        handler: ({ rounds }) =>
          Effect.gen(function*() {
            for (let round = 1; round <= rounds; round++) {
              // Over `sleepThreshold`: the attempt ends and the slot is free until
              // the job is due again, a minute later; it then resumes here.
              yield* Workflow.sleep(`wait-${round}`, "1 minute")
              yield* Workflow.step(`check-${round}`, Schema.Number, check(round))
            }
            return null
          })
      })

      const JobsLive = JobSupervisor.layer({ types: [Watch], sleepThreshold: "1 second" }).pipe(
        Layer.provide(JobStore.layerMemory)
      )
      // #endregion
      const program = Effect.gen(function*() {
        const jobs = yield* JobSupervisor.JobSupervisor
        const watches = [yield* jobs.submit(Watch, { rounds: 2 }), yield* jobs.submit(Watch, { rounds: 2 })]
        yield* advance(1_000)
        // Both sleep at once, though the queue runs one job at a time.
        const states = yield* Effect.forEach(watches, (id) => Effect.map(jobs.status(id), (job) => job.state))
        yield* advance(2 * 60_000, 10_000)
        return { states, running: yield* jobs.running, counts: yield* jobs.counts }
      }).pipe(Effect.provide(JobsLive))
      const { counts, running, states } = yield* program
      expect(states).toEqual(["scheduled", "scheduled"])
      expect(running).toEqual([])
      expect(counts.succeeded).toBe(2)
      expect(checked).toEqual([1, 1, 2, 2])
    }))
})
