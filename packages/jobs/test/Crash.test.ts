import * as JobStore from "@bulwark/jobs/JobStore"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type Execution, readExecutions, supervisorOptions, Work } from "./utils/crashWorker.js"

const root = path.join(__dirname, "../../..")
const workerScript = path.join(__dirname, "utils/crashWorker.ts")

const jobCount = 40
/** Each job takes 20 to 50 ms. */
const millisOf = (n: number) => 20 + (n * 7) % 31

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "bulwark-crash-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

interface Worker {
  readonly child: ChildProcess
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly output: () => string
}

/** Starts a worker on the files; killed with SIGKILL when the scope closes, if still alive. */
const startWorker = (dbFile: string, executionsFile: string) =>
  Effect.acquireRelease(
    Effect.sync((): Worker => {
      // Node itself with tsx's loader, not the `tsx` command: that one relays to a child node
      // process, and a SIGKILL of the relay would leave the real worker running.
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "--conditions=@bulwark/source", workerScript, dbFile, executionsFile],
        { cwd: root }
      )
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on("exit", (code, signal) => resolve({ code, signal }))
      )
      return { child, exited, output: () => output }
    }),
    (worker) => Effect.sync(() => worker.child.exitCode === null && worker.child.kill("SIGKILL"))
  )

/** Polls `check` every 20 ms until it returns true; fails naming `what` after `timeout`. */
const eventually = (what: string, timeout: Duration.DurationInput, check: Effect.Effect<boolean, unknown>) =>
  Effect.gen(function*() {
    while (!(yield* check)) yield* Effect.sleep("20 millis")
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new Error(`timed out after ${Duration.format(timeout)}: ${what}`)
    })
  )

const exitOf = (worker: Worker, timeout: Duration.DurationInput) =>
  Effect.promise(() => worker.exited).pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error(`worker did not exit: ${worker.output()}`) })
  )

const byJob = (executions: ReadonlyArray<Execution>, event: Execution["event"]) => {
  const counts = new Map<string, number>()
  for (const execution of executions) {
    if (execution.event === event) counts.set(execution.id, (counts.get(execution.id) ?? 0) + 1)
  }
  return counts
}

/** Started and not (yet) ended, as the file says. */
const inFlight = (executions: ReadonlyArray<Execution>) => {
  const starts = byJob(executions, "start")
  const ends = byJob(executions, "end")
  return [...starts].filter(([id, count]) => count > (ends.get(id) ?? 0)).map(([id]) => id)
}

describe("crash", () => {
  it.scopedLive(
    "a worker SIGKILLed mid-run: its jobs run again after their leases expire, each result stored once",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const dbFile = path.join(dir, "jobs.db")
        const executionsFile = path.join(dir, "executions.log")

        // This process only submits and reads: a supervisor without types never claims.
        const context = yield* Layer.build(
          JobSupervisor.layer({ types: [], ...supervisorOptions }).pipe(
            Layer.provide(JobStore.layerSqlite({ filename: dbFile }))
          )
        )
        const jobs = Context.get(context, JobSupervisor.JobSupervisor)
        const ids = yield* Effect.forEach(
          Array.from({ length: jobCount }, (_, n) => n),
          (n) => jobs.submit(Work, { n, millis: millisOf(n) })
        )
        const all = Effect.map(jobs.list({ types: [Work.name] }, { limit: 1000 }), (page) => page.jobs)

        // First worker: killed once some jobs are done and others are running.
        const first = yield* startWorker(dbFile, executionsFile)
        yield* eventually(
          "12 jobs done and some running in the first worker",
          "60 seconds",
          Effect.sync(() => {
            const executions = readExecutions(executionsFile)
            return executions.filter((e) => e.event === "end").length >= 12 && inFlight(executions).length > 0
          })
        )
        first.child.kill("SIGKILL")
        expect(yield* exitOf(first, "3 seconds")).toEqual({ code: null, signal: "SIGKILL" })

        const atCrash = yield* all
        const leftRunning = atCrash.filter((job) => job.state === "running")
        expect(leftRunning.length).toBeGreaterThan(0)
        expect(atCrash.filter((job) => job.state === "succeeded").length).toBeLessThan(jobCount)
        const firstPid = first.child.pid!

        // Second worker on the same file: it runs what is left, the dead worker's jobs once their leases expire.
        const second = yield* startWorker(dbFile, executionsFile)
        yield* eventually(
          "every job succeeded after the restart",
          "60 seconds",
          Effect.map(all, (records) => records.length === jobCount && records.every((job) => job.state === "succeeded"))
        )
        second.child.kill("SIGTERM")
        expect(yield* exitOf(second, "5 seconds")).toEqual({ code: 0, signal: null })
        const secondPid = second.child.pid!

        const records = yield* all
        const executions = readExecutions(executionsFile)
        const starts = byJob(executions, "start")
        const ends = byJob(executions, "end")

        // Every job once in the store, with its own result.
        expect(new Set(records.map((job) => job.id))).toEqual(new Set(ids))
        const results = new Map<string, { readonly n: number; readonly square: number; readonly pid: number }>()
        for (const [n, id] of ids.entries()) {
          const result = yield* jobs.wait(Work, id, { timeout: "1 second" })
          expect(result).toEqual({ n, square: n * n, pid: expect.any(Number) })
          results.set(id, result)
        }
        // At-least-once: every job ran to its end at least once; the jobs the crash caught ran again,
        // in the second worker, after their lease expired (which cost them an attempt).
        for (const job of records) {
          expect(ends.get(job.id) ?? 0).toBeGreaterThanOrEqual(1)
          const storedBy = results.get(job.id)!.pid
          expect(executions.some((e) => e.id === job.id && e.event === "end" && e.pid === storedBy)).toBe(true)
          const expired = job.errors.filter((error) => error.tag === "LeaseExpired").length
          expect(job.attempts).toBe(1 + expired)
          expect(job.attempts).toBeGreaterThanOrEqual(starts.get(job.id) ?? 0)
        }
        for (const job of leftRunning) {
          const record = records.find((r) => r.id === job.id)!
          expect(record.errors.map((error) => error.tag)).toEqual(["LeaseExpired"])
          expect(record.attempts).toBe(2)
          expect(executions.some((e) => e.id === job.id && e.event === "end" && e.pid === secondPid)).toBe(true)
          // The dead worker's execution lost its lease: the one result stored is the second worker's.
          expect(results.get(job.id)!.pid).toBe(secondPid)
        }
        // The crash interrupted executions: some job started twice, once in each worker.
        const rerun = [...starts].filter(([, count]) => count >= 2).map(([id]) => id)
        expect(rerun.length).toBeGreaterThan(0)
        for (const id of rerun) {
          expect(executions.filter((e) => e.id === id && e.event === "start").map((e) => e.pid)).toEqual([
            firstPid,
            secondPid
          ])
        }
        expect(executions.length).toBeGreaterThan(2 * jobCount)
      }),
    150_000
  )
})
