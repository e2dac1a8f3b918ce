/**
 * The worker of the crash test (`Crash.test.ts`), run in a child process:
 *
 *     node --import tsx --conditions=@bulwark/source crashWorker.ts <db file> <executions file>
 *
 * It runs a supervisor on the SQLite store in `<db file>` until SIGTERM (a
 * graceful shutdown) or SIGKILL (the crash under test). Every execution of a
 * job appends `start <id> <n> <pid>` and `end <id> <n> <pid>` lines to
 * `<executions file>` with synchronous appends, so the file shows every
 * execution even when the process dies right after: the test reads from it
 * that execution is at-least-once while the store keeps one result per job.
 *
 * The module also exports the job type, so the test submits exactly what the
 * worker runs.
 */
import * as JobStore from "@bulwark/jobs/JobStore"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as JobType from "@bulwark/jobs/JobType"
import { Cause, Context, Effect, Fiber, Layer, Logger, LogLevel, Schema } from "effect"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

/** Where the handler records its executions. */
export class ExecutionLog extends Context.Tag("crashWorker/ExecutionLog")<
  ExecutionLog,
  { readonly append: (line: string) => Effect.Effect<void> }
>() {}

/** Short leases and polls, so a dead worker's jobs are due again about a second after the crash. */
export const supervisorOptions = {
  leaseDuration: "1 second",
  pollInterval: "50 millis",
  shutdownGrace: "2 seconds",
  retention: false,
  metricsInterval: false
} as const

export const Work = JobType.make({
  name: "crash-work",
  payload: Schema.Struct({ n: Schema.Number, millis: Schema.Number }),
  result: Schema.Struct({ n: Schema.Number, square: Schema.Number, pid: Schema.Number }),
  concurrency: 4,
  handler: ({ millis, n }) =>
    Effect.gen(function*() {
      const log = yield* ExecutionLog
      const job = yield* JobType.CurrentJob
      yield* log.append(`start ${job.id} ${n} ${process.pid}`)
      yield* Effect.sleep(millis)
      yield* log.append(`end ${job.id} ${n} ${process.pid}`)
      return { n, square: n * n, pid: process.pid }
    })
})

/** One execution line of the executions file. */
export interface Execution {
  readonly event: "start" | "end"
  readonly id: string
  readonly n: number
  readonly pid: number
}

/** Parses the executions file; a missing file is no execution yet. */
export const readExecutions = (file: string): ReadonlyArray<Execution> => {
  if (!fs.existsSync(file)) return []
  return fs.readFileSync(file, "utf8").split("\n").filter((line) => line.length > 0).map((line) => {
    const [event, id, n, pid] = line.split(" ")
    return { event: event as Execution["event"], id: id!, n: Number(n), pid: Number(pid) }
  })
}

/** Kept short of the test's own timeout, so a worker the test lost track of cannot outlive it. */
const maxLifetime = "30 seconds"

const main = (dbFile: string, executionsFile: string) => {
  const logLayer = Layer.succeed(ExecutionLog, {
    append: (line) => Effect.sync(() => fs.appendFileSync(executionsFile, `${line}\n`))
  })
  const program = Effect.gen(function*() {
    const supervisor = yield* JobSupervisor.make({ types: [Work], ...supervisorOptions })
    process.stdout.write(`ready ${supervisor.owner}\n`)
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.timeout(maxLifetime),
    Effect.provide(Layer.merge(JobStore.layerSqlite({ filename: dbFile }), logLayer)),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
  const fiber = Effect.runFork(program)
  process.on("SIGTERM", () => Effect.runFork(Fiber.interrupt(fiber)))
  fiber.addObserver((exit) => {
    if (exit._tag === "Failure" && !Cause.isInterruptedOnly(exit.cause)) {
      process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
      process.exitCode = 1
    }
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dbFile, executionsFile] = process.argv.slice(2)
  if (dbFile === undefined || executionsFile === undefined) {
    process.stderr.write("usage: crashWorker.ts <db file> <executions file>\n")
    process.exit(2)
  }
  main(dbFile, executionsFile)
}
