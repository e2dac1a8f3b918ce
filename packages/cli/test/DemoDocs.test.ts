import * as Demo from "@bulwark/cli/Demo"
import * as OrpheusEmulator from "@bulwark/emulators/OrpheusEmulator"
import * as JobStore from "@bulwark/jobs/JobStore"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as CapturedConsole from "@bulwark/test-support/CapturedConsole"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { tempDir } from "./utils/store.js"

describe("docs/demo.md", () => {
  it("shows only code that runs here", () => expectDocRegions("demo.md", __filename))

  it.scopedLive("run", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { console } = yield* CapturedConsole.make
      yield* Effect.gen(function*() {
        // #region run
        const summary = yield* Demo.run({
          jobs: 3,
          serviceTime: "50 millis", // six times faster than the show
          store: `sqlite:${dir}/demo.db`,
          view: "none" // only the summary table
        })
        expect(summary.succeeded).toBe(3)
        expect(summary.gpus.map((gpu) => gpu.service)).toEqual(["orpheus-base", "orpheus-bridge", "orpheus-loops"])
        // #endregion
      }).pipe(Effect.withConsole(console), Effect.provide(NodeContext.layer))
    }))

  it.scopedLive("worker", () =>
    Effect.gen(function*() {
      const start = (model: "base" | "bridge" | "loops") => OrpheusEmulator.make({ model, serviceTime: "5ms" })
      const urls = {
        base: (yield* start("base")).url,
        bridge: (yield* start("bridge")).url,
        loops: (yield* start("loops")).url
      }
      // #region worker
      const type = Demo.composeJob()
      const piece = yield* Effect.gen(function*() {
        const jobs = yield* JobSupervisor.JobSupervisor
        const id = yield* jobs.submit(type, { title: "a fanfare", maxTokens: 64 })
        return yield* jobs.wait(type, id)
      }).pipe(Effect.provide(Demo.worker({ urls }).pipe(Layer.provide(JobStore.layerMemory))))
      expect(piece.sections.map((section) => section.step)).toEqual(["generate", "continue", "bridge", "loops"])
      // #endregion
    }).pipe(Effect.provide(Logger.remove(Logger.defaultLogger))))
})
