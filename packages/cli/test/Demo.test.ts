import * as Demo from "@bulwark/cli/Demo"
import * as DemoCommand from "@bulwark/cli/DemoCommand"
import * as JobStore from "@bulwark/jobs/JobStore"
import * as CapturedConsole from "@bulwark/test-support/CapturedConsole"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { runCli } from "./utils/cli.js"
import { tempDir } from "./utils/store.js"

/** `Demo.run` with its output captured. */
const runDemo = (options: Demo.Options) =>
  Effect.gen(function*() {
    const { console, stdout } = yield* CapturedConsole.make
    const exit = yield* Demo.run(options).pipe(
      Effect.withConsole(console),
      Effect.provide(NodeContext.layer),
      Effect.either
    )
    return { exit, stdout: yield* stdout }
  })

const storedJobs = (filename: string) =>
  Effect.scoped(Effect.gen(function*() {
    const store = Context.get(yield* Layer.build(JobStore.layerSqlite({ filename })), JobStore.JobStore)
    return (yield* store.list({}, { limit: 100 })).jobs
  }))

describe.sequential("Demo.run", () => {
  it.scopedLive("four jobs on a fresh SQLite store: all succeed, GPU-busy answers waited out, the breaker opens and closes", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "nested", "demo.db")
      const { exit, stdout } = yield* runDemo({
        jobs: 4,
        seed: 3,
        serviceTime: "50 millis",
        store: `sqlite:${filename}`,
        view: "plain"
      })
      if (exit._tag === "Left") expect.fail(`${exit.left.message}\n${stdout}`)
      const summary = exit.right

      expect(summary).toMatchObject({ jobs: 4, succeeded: 4, failed: [], jobsFailedByBusyGpu: 0, seed: 3 })
      expect(summary.attempts).toBeGreaterThanOrEqual(4)
      // Two workers on one GPU: some calls met it busy, and every one was waited out.
      expect(summary.gpuBusyWaits).toBeGreaterThan(0)
      expect(summary.gpus.reduce((sum, gpu) => sum + gpu.busyAnswers, 0)).toBe(summary.gpuBusyWaits)
      expect(summary.gpus.map((gpu) => gpu.service)).toEqual(["orpheus-base", "orpheus-bridge", "orpheus-loops"])
      for (const gpu of summary.gpus) {
        expect(gpu.utilization).toBeGreaterThan(0)
        expect(gpu.utilization).toBeLessThanOrEqual(1)
      }
      // The heartbeat's breaker rode out its storm: opened, probed half-open, closed again.
      const ollama = summary.breakerTransitions.filter((t) => t.breaker === "ollama").map((t) => t.to)
      expect(ollama[0]).toBe("OPEN")
      expect(ollama).toContain("HALF_OPEN")
      expect(ollama.at(-1)).toBe("CLOSED")
      // The physical limit is the busiest GPU's work; nobody beats it.
      expect(summary.limitMillis).toBe(Math.max(...summary.gpus.map((gpu) => gpu.busyMillis)))
      expect(summary.elapsedMillis).toBeGreaterThanOrEqual(summary.limitMillis * 0.95)
      expect(summary.requeues.backoff + summary.requeues.retryAfter).toBe(summary.attempts - 4)
      // The heartbeat service was served all along: degraded during the storm, ok at the end.
      expect(summary.heartbeat).toMatchObject({ status: "ok", breakers: ["ollama CLOSED"], error: undefined })
      expect(summary.heartbeat.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/heartbeat$/)
      expect(summary.heartbeat.degradedMillis).toBeGreaterThan(0)

      // Plain lines, then the table.
      expect(stdout).toMatch(/^\s+\d+\.\d\ds {2}bulwark demo: 4 fanfare jobs/m)
      expect(stdout).toMatch(/job 01 started on worker-\d/)
      expect(stdout).toMatch(/job \d\d GPU busy at orpheus-\w+: waiting \d+\.\d\ds \(Retry-After; no attempt used\)/)
      expect(stdout).toMatch(/breaker ollama: CLOSED -> OPEN \(failures: 3\)/)
      expect(stdout).toMatch(/breaker ollama: HALF_OPEN -> CLOSED/)
      expect(stdout).toMatch(/bulwark demo: .*; heartbeat at http:\/\/127\.0\.0\.1:\d+\/heartbeat$/m)
      expect(stdout).toMatch(/heartbeat degraded: ollama OPEN \(3 failures, retry in \d\.\ds\)/)
      expect(stdout).toMatch(/│ heartbeat\s+│ ok at the end \(ollama CLOSED\); degraded for \d+\.\ds/)
      for (const n of ["01", "02", "03", "04"]) expect(stdout).toMatch(new RegExp(`job ${n} succeeded: 4 sections`))
      expect(stdout).toMatch(/│ jobs\s+│ 4 of 4 succeeded/)
      expect(stdout).toMatch(/│ GPU-busy waits\s+│ \d+ × 429 waited out/)
      expect(stdout).toMatch(/│ breaker transitions\s+│ ollama: CLOSED → OPEN → /)
      expect(stdout).toMatch(/│ time vs physical limit\s+│ \d+\.\ds vs \d+\.\ds/)
      expect(stdout.indexOf("done")).toBeLessThan(stdout.indexOf("│ jobs"))

      // The store is a real file in the folder asked for, holding the four finished jobs.
      const jobs = yield* storedJobs(filename)
      expect(jobs.map((job) => job.state)).toEqual(["succeeded", "succeeded", "succeeded", "succeeded"])
      for (const job of jobs) expect(Object.keys(job.steps)).toEqual(["generate", "continue", "bridge", "loops"])
    }))

  it.scopedLive("a second run starts from a fresh store", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const store = `sqlite:${path.join(dir, "demo.db")}`
      const options = { jobs: 1, serviceTime: "10 millis", store, view: "none" } as const
      const first = yield* runDemo(options)
      const second = yield* runDemo(options)
      expect(first.exit._tag).toBe("Right")
      expect(second.exit._tag).toBe("Right")
      expect(yield* storedJobs(path.join(dir, "demo.db"))).toHaveLength(1)
      // view "none": only the table.
      expect(second.stdout.trimStart().startsWith("┌")).toBe(true)
    }))

  it.scopedLive("a run past its timeout fails with one line saying so", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { exit } = yield* runDemo({
        jobs: 3,
        serviceTime: "2 seconds",
        timeout: "1 second",
        store: `sqlite:${path.join(dir, "demo.db")}`,
        view: "none"
      })
      expect(exit._tag).toBe("Left")
      if (exit._tag === "Left") {
        expect(exit.left.message).toBe("demo failed: did not finish within 1s: 3 of 3 jobs not done")
      }
    }))
})

describe("Demo.run refuses", () => {
  it.scoped("an option out of range, naming it", () =>
    Effect.gen(function*() {
      const { exit } = yield* runDemo({ jobs: 0 })
      expect(exit._tag === "Left" && exit.left.message).toBe(
        "invalid demo option jobs: 0 (expected a whole number from 1 to 100)"
      )
      const store = yield* runDemo({ store: "postgres://db/jobs" })
      expect(store.exit._tag === "Left" && store.exit.left._tag).toBe("InvalidDemoOption")
    }))

  it.scoped("a store URL with a password, without printing the password", () =>
    Effect.gen(function*() {
      for (const url of ["postgres://u:s3cret@h/db", "mysql://u:s3cret@h/db", "sqlite://u:s3cret@h/demo.db"]) {
        const { exit, stdout } = yield* runDemo({ store: url })
        expect(exit._tag === "Left" && exit.left._tag, url).toBe("InvalidDemoOption")
        if (exit._tag === "Left") {
          expect(exit.left.message, url).toContain("u:***@h")
          expect(JSON.stringify(exit.left) + exit.left.message + stdout, url).not.toContain("s3cret")
        }
      }
    }))

  it.scoped("a store holding other jobs, or a file that is no store: left as it is", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "worker.db")
      yield* Effect.scoped(Effect.gen(function*() {
        const store = Context.get(yield* Layer.build(JobStore.layerSqlite({ filename })), JobStore.JobStore)
        yield* store.enqueue({
          id: "job-1" as never,
          type: "compose",
          queue: "compose",
          payload: {},
          priority: 0,
          maxAttempts: 1,
          maxRateLimited: 1,
          runAt: 0
        }, { now: 0 })
      }))
      const foreign = yield* runDemo({ store: `sqlite:${filename}`, view: "none" })
      expect(foreign.exit._tag === "Left" && foreign.exit.left.message).toBe(
        `demo failed: ${filename} holds jobs other than the demo's; the demo starts from a fresh store: name another file`
      )
      expect(yield* storedJobs(filename)).toHaveLength(1)

      const notes = path.join(dir, "notes.txt")
      fs.writeFileSync(notes, "not a database")
      const text = yield* runDemo({ store: `sqlite:${notes}`, view: "none" })
      expect(text.exit._tag === "Left" && text.exit.left._tag).toBe("DemoFailed")
      expect(fs.readFileSync(notes, "utf8")).toBe("not a database")
    }))
})

describe("bulwark demo", () => {
  it("is live only on a terminal outside CI, unless --plain", () => {
    expect(DemoCommand.viewFor({ plain: false, isTTY: true, ci: false })).toBe("live")
    expect(DemoCommand.viewFor({ plain: true, isTTY: true, ci: false })).toBe("plain")
    expect(DemoCommand.viewFor({ plain: false, isTTY: false, ci: false })).toBe("plain")
    expect(DemoCommand.viewFor({ plain: false, isTTY: true, ci: true })).toBe("plain")
  })

  it.scopedLive("two jobs from the command line: plain lines, the table, exit 0", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const result = yield* runCli("demo", "--jobs", "2", "--seed", "5", "--plain", "--store", `sqlite:${dir}/demo.db`)
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/job 02 succeeded/)
      expect(result.stdout).toMatch(/│ jobs\s+│ 2 of 2 succeeded/)
    }), 30_000)

  it.scoped("a bad --jobs is a usage error", () =>
    Effect.gen(function*() {
      const result = yield* runCli("demo", "--jobs", "0")
      expect(result.code).toBe(2)
      expect(result.stdout + result.stderr).toMatch(/--jobs must be a whole number from 1 to 100/)
    }))
})
