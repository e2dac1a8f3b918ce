import * as Errors from "@bulwark/core/Errors"
import * as OrpheusEmulator from "@bulwark/emulators/OrpheusEmulator"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Logger, LogLevel, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as GettingStarted from "./programs/GettingStarted.js"

describe("docs/getting-started.md", () => {
  it("shows the program file to the letter", () =>
    expectDocRegions("getting-started.md", `${__dirname}/programs/GettingStarted.ts`))

  it.effect("one policy for both calls: the first fails twice with a 503 and succeeds, the second at once", () =>
    Effect.gen(function*() {
      let calls = 0
      const flaky = Effect.suspend(() =>
        ++calls < 3 ? Effect.fail(new Errors.Unavailable({ service: "status_page" })) : Effect.succeed(calls)
      )
      const fiber = yield* Effect.fork(GettingStarted.twice(flaky).pipe(Logger.withMinimumLogLevel(LogLevel.None)))
      yield* TestClock.adjust("1 minute")
      expect(yield* Fiber.join(fiber)).toEqual([3, 4])
    }))

  it.scopedLive(
    "three durable jobs against Orpheus servers with a busy GPU, configured by the environment",
    () =>
      Effect.gen(function*() {
        const gpu = yield* OrpheusEmulator.make({
          model: "base",
          capacity: 1,
          serviceTime: "30ms",
          busyHint: "remaining",
          seed: 5
        })
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bulwark-start-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
        const pieces = yield* GettingStarted.main(path.join(dir, "jobs.db")).pipe(
          Effect.withConfigProvider(
            ConfigProvider.fromMap(new Map([["ORPHEUS_BASE_URL", gpu.url]]), { pathDelim: "_" })
          ),
          Logger.withMinimumLogLevel(LogLevel.Error)
        )
        expect(pieces.map((piece) => piece.title)).toEqual(["overture", "fanfare", "coda"])
        expect(pieces.every((piece) => piece.bytes > 0)).toBe(true)
        const stats = yield* gpu.stats
        // two steps per job, each under its job's id
        expect(new Set(stats.clientJobIds).size).toBe(3)
      }),
    30_000
  )
})
