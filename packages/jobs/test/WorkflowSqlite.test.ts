import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Schema, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as JobStore from "../src/JobStore.js"
import * as JobSupervisor from "../src/JobSupervisor.js"
import * as JobType from "../src/JobType.js"
import * as Workflow from "../src/Workflow.js"
import { advance } from "./utils/supervisor.js"

const tempFile = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "bulwark-workflow-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  ),
  (dir) => path.join(dir, "jobs.db")
)

const Piece = Schema.Struct({ audio: Schema.String })

/** Seed 000's composition whose bridge hangs on its first call (the worker goes down under it). */
const composition = () => {
  const calls = { generate: 0, continue: 0, bridge: 0, loops: 0 }
  const tool = (name: keyof typeof calls) =>
    Effect.suspend(() => {
      calls[name]++
      return name === "bridge" && calls.bridge === 1
        ? Effect.never
        : Effect.succeed({ audio: `${name}-${calls[name]}` })
    })
  const type = JobType.make({
    name: "compose",
    payload: Schema.Struct({ prompt: Schema.String }),
    result: Schema.Array(Schema.String),
    handler: () =>
      Effect.gen(function*() {
        const steps = ["generate", "continue", "bridge", "loops"] as const
        const pieces: Array<string> = []
        for (const name of steps) pieces.push((yield* Workflow.step(name, Piece, tool(name))).audio)
        return pieces
      })
  })
  return { calls, type }
}

/** Opens the SQLite store on `filename` in `scope`: each call is a new connection, as after a restart. */
const openStore = (filename: string, scope: Scope.Scope) =>
  Layer.buildWithScope(JobStore.layerSqlite({ filename }), scope).pipe(
    Effect.map((context) => Context.get(context, JobStore.JobStore))
  )

describe("Workflow with the SQLite store", () => {
  it.scoped("after a shutdown mid-run, a new supervisor on the same file does not re-run completed steps", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      const { calls, type } = composition()

      const first = yield* Scope.make()
      const store1 = yield* openStore(filename, first)
      const supervisor1 = yield* JobSupervisor.make({ types: [type], shutdownGrace: "1 second" }).pipe(
        Scope.extend(first),
        Effect.provideService(JobStore.JobStore, store1)
      )
      const id = yield* supervisor1.submit(type, { prompt: "fanfare" })
      yield* advance(2_000)
      expect(calls).toEqual({ generate: 1, continue: 1, bridge: 1, loops: 0 })
      // The worker goes down mid-bridge: the attempt is interrupted and the file closed.
      const closing = yield* Effect.fork(Scope.close(first, Exit.void))
      yield* advance(1_000)
      yield* Fiber.join(closing)

      const second = yield* Scope.make()
      const store2 = yield* openStore(filename, second)
      const stored = yield* store2.get(id)
      expect(stored.state).toBe("queued")
      expect(Object.keys(stored.steps).sort()).toEqual(["continue", "generate"])
      const supervisor2 = yield* JobSupervisor.make({ types: [type] }).pipe(
        Scope.extend(second),
        Effect.provideService(JobStore.JobStore, store2)
      )
      const waiting = yield* Effect.fork(supervisor2.wait(type, id))
      yield* advance(2_000)
      expect(yield* Fiber.join(waiting)).toEqual(["generate-1", "continue-1", "bridge-2", "loops-1"])
      expect(calls).toEqual({ generate: 1, continue: 1, bridge: 2, loops: 1 })
      yield* Scope.close(second, Exit.void)
    }))
  it.scoped("after a worker dies mid-run (its lease expires, nothing released), completed steps are not re-run", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      const { calls, type } = composition()

      const dead = yield* Scope.make()
      const connection = yield* Scope.make()
      const store1 = yield* openStore(filename, connection)
      const supervisor1 = yield* JobSupervisor.make({
        types: [type],
        leaseDuration: "5 seconds",
        shutdownGrace: "1 second"
      }).pipe(
        Scope.extend(dead),
        Effect.provideService(JobStore.JobStore, store1)
      )
      const id = yield* supervisor1.submit(type, { prompt: "fanfare" })
      yield* advance(1_000)
      expect(calls).toEqual({ generate: 1, continue: 1, bridge: 1, loops: 0 })
      // The process dies: its database connection is gone before anything can be released.
      yield* Scope.close(connection, Exit.void)
      const stopping = yield* Effect.fork(Scope.close(dead, Exit.void))
      yield* advance(1_000)
      yield* Fiber.join(stopping)

      const second = yield* Scope.make()
      const store2 = yield* openStore(filename, second)
      expect(yield* store2.get(id)).toMatchObject({ state: "running", attempts: 1 })
      const supervisor2 = yield* JobSupervisor.make({ types: [type] }).pipe(
        Scope.extend(second),
        Effect.provideService(JobStore.JobStore, store2)
      )
      const waiting = yield* Effect.fork(supervisor2.wait(type, id))
      yield* advance(6_000)
      expect(yield* Fiber.join(waiting)).toEqual(["generate-1", "continue-1", "bridge-2", "loops-1"])
      expect(calls).toEqual({ generate: 1, continue: 1, bridge: 2, loops: 1 })
      // The expired lease cost its attempt (at-least-once), the completed steps did not run again.
      expect(yield* store2.get(id)).toMatchObject({ state: "succeeded", attempts: 2 })
      yield* Scope.close(second, Exit.void)
    }))
})
