/**
 * The `bulwark` process itself, spawned as a user runs it (from source, with
 * tsx's loader): exit codes, stderr without stack traces, Ctrl-C.
 */
import * as Cli from "@bulwark/cli/Cli"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.join(__dirname, "../../..")
const bin = path.join(__dirname, "../src/bin.ts")

interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

interface Running {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly exited: Promise<Exited>
}

/**
 * Each process compiles the sources with tsx on start: a few seconds each on a
 * loaded two-core runner. At most two at once, each given a minute.
 */
const concurrency = 2
const processTimeout = "60 seconds"

/** `bulwark <args>` as a process; killed with the scope if it is still running. */
const start = (...args: ReadonlyArray<string>) => startWith({}, ...args)

const startWith = (env: Readonly<Record<string, string | undefined>>, ...args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync((): Running => {
      // Node itself with tsx's loader, so a signal reaches the CLI and not a relay process.
      const child = spawn(process.execPath, ["--conditions=@bulwark/source", "--import", "tsx", bin, ...args], {
        cwd: root,
        env: { ...process.env, NO_COLOR: "1", BULWARK_STORE: "", CI: "", ...env }
      })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
      const exited = new Promise<Exited>((resolve) =>
        child.on("exit", (code, signal) => setImmediate(() => resolve({ code, signal, stdout, stderr })))
      )
      return { child, stdout: () => stdout, exited }
    }),
    (running) => Effect.sync(() => running.child.exitCode === null && running.child.kill("SIGKILL"))
  )

const exitOf = (running: Running) =>
  Effect.promise(() => running.exited).pipe(
    Effect.timeoutFail({ duration: processTimeout, onTimeout: () => new Error(`still running: ${running.stdout()}`) })
  )

const run = (...args: ReadonlyArray<string>) => Effect.flatMap(start(...args), exitOf)

const stackLine = /^\s{4}at /m

describe("the bulwark process", () => {
  it.scopedLive(
    "bad arguments and failures: a message on stderr, a non-zero exit code, never a stack trace",
    () =>
      Effect.gen(function*() {
        const missing = path.join(os.tmpdir(), "bulwark-no-such-dir", "jobs.db")
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, number, RegExp]> = [
          [["jobs", "list", "--limit", "x"], 2, /'x' is not a integer/],
          [["jobs", "frobnicate"], 2, /Invalid subcommand/],
          [["emulate", "venus"], 2, /orpheus, ollama, openai, github/],
          [["jobs", "list", "--store", `sqlite:${missing}`], 1, /^bulwark: no job store at .*jobs\.db: /],
          [
            ["jobs", "list", "--store", "postgres://u:pw@db/jobs"],
            1,
            /^bulwark: PostgreSQL stores are not supported yet/
          ],
          [["emulate", "orpheus", "--faults", "status=600@1s"], 1, /^bulwark: Invalid fault spec/]
        ]
        const results = yield* Effect.forEach(cases, ([args]) => run(...args), { concurrency })
        cases.forEach(([args, code, message], n) => {
          const result = results[n]!
          const name = args.join(" ")
          expect(result.code, name).toBe(code)
          expect(result.stderr, name).toMatch(message)
          expect(result.stderr, name).not.toMatch(stackLine)
          expect(result.stdout, name).not.toMatch(stackLine)
        })
      }),
    240_000
  )

  it.scopedLive("--version exits 0", () =>
    Effect.gen(function*() {
      const result = yield* run("--version")
      expect(result.code).toBe(0)
      expect(result.stdout.trim()).toBe("0.1.0")
    }), 90_000)

  it.scopedLive("emulate serves until SIGINT, then prints what it served and exits 0", () =>
    Effect.gen(function*() {
      const emulator = yield* start("emulate", "ollama", "--port", "0")
      const url = yield* Effect.gen(function*() {
        while (true) {
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(emulator.stdout())
          if (match !== null) return match[1]!
          yield* Effect.sleep("20 millis")
        }
      }).pipe(Effect.timeoutFail({ duration: processTimeout, onTimeout: () => new Error("no URL printed") }))
      const tags = yield* Effect.promise(() => fetch(`${url}/api/tags`).then((response) => response.status))
      expect(tags).toBe(200)
      emulator.child.kill("SIGINT")
      const result = yield* exitOf(emulator)
      expect(result.code).toBe(0)
      expect(result.stdout).toContain("emulator stopped after 1 request; responses 200: 1")
      expect(result.stderr).toBe("")
    }), 150_000)

  it.scopedLive(
    "Ctrl-C during the demo: exit 130 (not every job succeeded), and no line about the shutdown",
    () =>
      Effect.gen(function*() {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bulwark-bin-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
        const demo = yield* start("demo", "--plain", "--store", `sqlite:${path.join(dir, "demo.db")}`)
        yield* Effect.gen(function*() {
          while (!/submitted \d+ jobs/.test(demo.stdout())) yield* Effect.sleep("20 millis")
        }).pipe(Effect.timeoutFail({ duration: processTimeout, onTimeout: () => new Error("the demo did not start") }))
        demo.child.kill("SIGINT")
        const linesAtInterrupt = demo.stdout().split("\n").length
        const result = yield* exitOf(demo)
        expect(result.code).toBe(Cli.ExitCode.interrupted)
        expect(result.stderr).not.toMatch(stackLine)
        // No summary table. Lines already on their way when the signal came may follow (how many
        // depends on the machine's load), but only the running show's own kind: nothing that reports
        // the shutdown, as if interrupted jobs had failed, been released or been cancelled.
        expect(result.stdout).not.toContain("│ jobs")
        const after = result.stdout.split("\n").slice(linesAtInterrupt - 1).filter((line) => line !== "")
        for (const line of after) {
          expect(line).toMatch(/^ +\d+\.\d\ds {2}(job \d\d |submitted |breaker |heartbeat )/)
          expect(line).not.toMatch(/interrupt|releas|cancel|job \d\d failed|│/i)
        }
      }),
    150_000
  )

  it.scopedLive(
    "passwords in store URLs are never printed, not even with --log-level debug",
    () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<ReadonlyArray<string>> = [
          ["jobs", "list", "--store", "mysql://u:s3cret@h/db"],
          ["demo", "--store", "postgres://u:s3cret@h/db"],
          ["--log-level", "debug", "serve", "--port", "0", "--store", "sqlite://u:s3cret@h/jobs.db"]
        ]
        const results = yield* Effect.forEach(cases, (args) => run(...args), { concurrency })
        cases.forEach((args, n) => {
          const result = results[n]!
          const name = args.join(" ")
          expect(result.code, name).toBe(1)
          expect(result.stderr, name).toMatch(/^bulwark: .*u:\*\*\*@h/)
          expect(result.stdout + result.stderr, name).not.toContain("s3cret")
        })
      }),
    240_000
  )

  it.scopedLive(
    "help in a pipe has no colours (@effect/cli colours it whatever the output)",
    () =>
      Effect.gen(function*() {
        const result = yield* Effect.flatMap(startWith({ NO_COLOR: undefined }, "jobs", "--help"), exitOf)
        expect(result.code).toBe(0)
        expect(result.stdout).toContain("USAGE")
        expect(result.stdout).not.toContain(String.fromCharCode(27))
      }),
    90_000
  )
})
