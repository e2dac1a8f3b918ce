/**
 * Runs the demo: `pnpm --filter @bulwark/example-issue-runner start`. Traces
 * and metrics go over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
 *
 * Exit codes: 0 when every issue got its comment, 1 when one did not (or
 * the run could not start), 2 for a bad variable or issues file (one line
 * on stderr naming it).
 *
 * @since 0.1.0
 */
import * as ConfigErrors from "@bulwark/core/ConfigErrors"
import { Telemetry } from "@bulwark/telemetry"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, ConfigError, Effect, Either, Exit } from "effect"
import * as Runner from "./Runner.js"

/** What the user can fix (a variable, the issues file) exits 2; anything else that stops the run, 1. */
const failure = (error: unknown): { readonly message: string; readonly code: number } => {
  if (ConfigError.isConfigError(error)) return { message: ConfigErrors.describe(error), code: 2 }
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : ""
  const message = error instanceof Error && error.message !== "" ? error.message : tag
  const usage = ["InvalidIssuesFile", "InvalidPolicy", "InvalidTelemetry"].includes(tag)
  return { message, code: usage ? 2 : 1 }
}

const main = Runner.demo({ print: (line) => process.stdout.write(`${line}\n`) }).pipe(
  // 1 unless every issue got its comment
  Effect.map((report) => report.outcomes.some((outcome) => Either.isLeft(outcome.result)) ? 1 : 0),
  Effect.provide(Telemetry.layerConfig({ serviceName: "issue-runner" })),
  Effect.catchAll((error) => {
    const { code, message } = failure(error)
    return Effect.as(Effect.sync(() => process.stderr.write(`issue-runner: ${message}\n`)), code)
  }),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(main, {
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
