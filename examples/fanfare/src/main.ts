/**
 * `pnpm --filter @bulwark/example-fanfare start`: composes a batch of pieces
 * through the job runtime, against emulated Orpheus servers unless
 * `ORPHEUS_BASE_URL` / `ORPHEUS_BRIDGE_URL` / `ORPHEUS_LOOPS_URL` point at real ones.
 * Settings: see `Settings.ts`; traces and metrics over OTLP when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
 *
 * Exit codes: 0 when every piece was composed, 1 when one was not (or the
 * run could not start), 2 for a bad variable (one line naming it).
 */
import * as ConfigErrors from "@bulwark/core/ConfigErrors"
import { JobStore } from "@bulwark/jobs"
import { Telemetry } from "@bulwark/telemetry"
import { FileSystem, Path } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, ConfigError, Console, Effect, Exit } from "effect"
import * as Fanfare from "./Fanfare.js"
import * as Log from "./Log.js"
import * as Settings from "./Settings.js"
import * as Summary from "./Summary.js"

/** A bad variable (ours, an `ORPHEUS_*` or an `OTEL_*` one) exits 2; anything else that stops the run, 1. */
const failure = (error: unknown): { readonly message: string; readonly code: number } => {
  if (ConfigError.isConfigError(error)) return { message: ConfigErrors.describe(error), code: 2 }
  const tagged = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : ""
  const message = error instanceof Error ? error.message : String(error)
  const usage = tagged === "InvalidSetting" || tagged === "InvalidPolicy" || tagged === "InvalidTelemetry"
  return { message: message === "" ? tagged : message, code: usage ? 2 : 1 }
}

const main = Effect.gen(function*() {
  const settings = yield* Settings.load
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  yield* fs.makeDirectory(path.dirname(settings.store), { recursive: true })
  yield* Effect.log(
    `Job store: ${settings.store}; ${settings.workers} workers, ${settings.concurrency} jobs each at once`
  )

  const report = yield* Fanfare.run({
    jobs: settings.jobs,
    workers: settings.workers,
    maxTokens: settings.maxTokens,
    store: JobStore.layerSqlite({ filename: settings.store }),
    compose: { concurrency: settings.concurrency }
  })
  yield* Console.log("")
  for (const line of Summary.lines(report)) yield* Console.log(line)
  return report.jobs.every((job) => job.status === "complete") ? 0 : 1
}).pipe(
  Effect.scoped,
  Effect.provide(Telemetry.layerConfig({ serviceName: "fanfare" })),
  Effect.catchAll((error) => {
    const { code, message } = failure(error)
    return Effect.as(Effect.sync(() => process.stderr.write(`fanfare: ${message}\n`)), code)
  }),
  Effect.provide(Log.layer()),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(main, {
  disablePrettyLogger: true,
  // a code other than 0 ends the process at once, whatever the run left behind
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit)
        ? (typeof exit.value === "number" ? exit.value : 0)
        : Cause.isInterruptedOnly(exit.cause)
        ? 130
        : 1
    )
})
