/**
 * Runs the service with its load generator: the OpenAI upstream fails on its
 * fault timeline (503 from 3 s to 8 s), its breaker opens, probes and closes,
 * and every step shows in the log. `--serve` keeps serving afterwards. Traces
 * and metrics also go over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
 *
 *   pnpm --filter @bulwark/example-heartbeat start
 *   pnpm --filter @bulwark/example-heartbeat start --serve   # then: curl localhost:8080/heartbeat
 *
 * Exit codes: 0 when the run ended, 1 when it could not start (a port
 * taken), 2 for a bad argument or variable (one message naming it).
 */
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as ConfigErrors from "@bulwark/core/ConfigErrors"
import { Prometheus, Telemetry } from "@bulwark/telemetry"
import { FetchHttpClient } from "@effect/platform"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, ConfigError, Effect, Exit, Layer } from "effect"
import * as Log from "./Log.js"
import { program } from "./Program.js"
import * as Settings from "./Settings.js"

const Live = Layer.mergeAll(
  // CIRCUIT_DEFAULT_* and CIRCUIT_<OLLAMA|OPENAI>_* over these: 5 failures (the seeds), 2 s open so the demo is short
  CircuitBreakers.layerConfig({ names: ["ollama", "openai"], defaults: { openDuration: "2 seconds" } }),
  Prometheus.layer({ serviceName: "heartbeat" }),
  Telemetry.layerConfig({ serviceName: "heartbeat" }),
  FetchHttpClient.layer
)

/** What the user can fix (an argument, a variable) exits 2; anything else that stops the run, 1. */
const failure = (error: unknown): { readonly message: string; readonly code: number } => {
  if (ConfigError.isConfigError(error)) return { message: ConfigErrors.describe(error), code: 2 }
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : ""
  // a ServeError (port taken, not allowed) has no message of its own: its cause says why
  const cause = typeof error === "object" && error !== null && "cause" in error && error.cause instanceof Error
    ? `: ${error.cause.message}`
    : ""
  const message = error instanceof Error && error.message !== "" ? error.message : `${tag}${cause}`
  switch (tag) {
    case "BadArguments":
    case "InvalidSetting":
    case "InvalidTelemetry":
    case "InvalidPolicy":
      return { message, code: 2 }
    default:
      return { message, code: 1 }
  }
}

const main = Effect.gen(function*() {
  const settings = yield* Settings.load(process.argv.slice(2))
  yield* program(settings).pipe(Effect.provide(Live), Effect.provide(Log.layer(settings)))
  return 0
}).pipe(
  Effect.catchAll((error) => {
    const { code, message } = failure(error)
    return Effect.as(Effect.sync(() => process.stderr.write(`heartbeat: ${message}\n`)), code)
  })
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
