/**
 * `pnpm --filter @bulwark/example-koderz start [benchmark [options] | problems]`.
 * Traces and metrics go over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
 *
 * @since 0.1.0
 */
import { Telemetry } from "@bulwark/telemetry"
import { FetchHttpClient } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer, Logger } from "effect"
import * as Cli from "./Cli.js"
import * as Lab from "./Lab.js"
import * as Output from "./Output.js"

const program = Cli.run(process.argv.slice(2)).pipe(
  Effect.provide(Telemetry.layerConfig({ serviceName: "koderz" })),
  // a bad OTEL_* variable: one line, exit code 2, as any other
  Effect.catchAll(Cli.report),
  Effect.provide(
    Layer.mergeAll(
      NodeContext.layer,
      // fetch aborts a request whose attempt timed out: Ollama (and the emulator) then free its slot
      FetchHttpClient.layer,
      Lab.layer(Lab.demo),
      Logger.replace(Logger.defaultLogger, Output.logger)
    )
  )
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  disablePrettyLogger: true,
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit)
        ? (typeof exit.value === "number" ? exit.value : Cli.exitCodes.ok)
        : Cause.isInterruptedOnly(exit.cause)
        ? 130
        : Cli.exitCodes.failed
    )
})
