/**
 * The OTLP/HTTP exporters of `Telemetry`, by protocol, each watched.
 *
 * OpenTelemetry reports a failed export only to its diagnostic logger, which
 * is silent unless the program installs one (`diag.setLogger`), so a wrong
 * endpoint or key would go unnoticed. Installing one here is not an option:
 * `diag` is process-wide, the API cannot read back the logger it replaces, and
 * a second layer (or the program's own) would fight over it. The exporters are
 * ours, though: each one's results are watched, and the first failure of a
 * run of failures is a warning in the program's Effect log (with the first
 * success after it as an info line), so a collector that is down for an hour
 * is one warning, not one per batch.
 */
import { OTLPMetricExporter as JsonMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { OTLPMetricExporter as ProtoMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto"
import { OTLPTraceExporter as JsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { OTLPTraceExporter as ProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import type { PushMetricExporter } from "@opentelemetry/sdk-metrics"
import type { SpanExporter } from "@opentelemetry/sdk-trace-base"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"

/** The encodings sent over OTLP/HTTP. */
export type Protocol = "http/protobuf" | "http/json"

/** What an exporter hands its callback: `ExportResult` of @opentelemetry/core. */
type Result = Parameters<Parameters<SpanExporter["export"]>[1]>[0]

/** `ExportResultCode.SUCCESS` of @opentelemetry/core (a dependency of the exporters, not of this package). */
const SUCCESS = 0

/** Where one signal goes. `shownUrl` is the URL without user info or query, for the log. */
export interface Target {
  readonly url: string
  readonly shownUrl: string
  readonly headers: Redacted.Redacted<Readonly<Record<string, string>>>
  readonly protocol: Protocol
}

const reporter = (signal: "traces" | "metrics", target: Target, runtime: Runtime.Runtime<never>) => {
  let failures = 0
  const log = (line: Effect.Effect<void>) =>
    Runtime.runFork(runtime)(
      line.pipe(Effect.annotateLogs({ signal, url: target.shownUrl, protocol: target.protocol }))
    )
  return (result: Result): void => {
    if (result.code !== SUCCESS) {
      if (failures++ === 0) {
        log(Effect.logWarning(
          `Telemetry: ${signal} export to ${target.shownUrl} failed: ${result.error?.message ?? "no reason given"}` +
            " (further failures are not logged until an export succeeds)"
        ))
      }
    } else if (failures > 0) {
      log(Effect.logInfo(
        `Telemetry: ${signal} export to ${target.shownUrl} works again, after ${failures} failed export${
          failures === 1 ? "" : "s"
        }`
      ))
      failures = 0
    }
  }
}

/**
 * Reports every result of `exporter` before its caller sees it. The instance
 * is patched rather than wrapped, so what else it implements (a metric
 * exporter's temporality and aggregation preferences) is kept as is.
 */
const watch = <X extends { export(items: never, done: (result: Result) => void): void }>(
  exporter: X,
  report: (result: Result) => void
): X => {
  const original = exporter.export.bind(exporter) as (items: unknown, done: (result: Result) => void) => void
  const watched = (items: unknown, done: (result: Result) => void) =>
    original(items, (result) => {
      report(result)
      done(result)
    })
  exporter.export = watched as X["export"]
  return exporter
}

const config = (target: Target) => ({ url: target.url, headers: { ...Redacted.value(target.headers) } })

/** The span exporter for `target`, its failures logged through `runtime`. */
export const traces = (target: Target, runtime: Runtime.Runtime<never>): SpanExporter =>
  watch(
    target.protocol === "http/json" ? new JsonTraceExporter(config(target)) : new ProtoTraceExporter(config(target)),
    reporter("traces", target, runtime)
  )

/** The metric exporter for `target`, its failures logged through `runtime`. */
export const metrics = (target: Target, runtime: Runtime.Runtime<never>): PushMetricExporter =>
  watch(
    target.protocol === "http/json" ? new JsonMetricExporter(config(target)) : new ProtoMetricExporter(config(target)),
    reporter("metrics", target, runtime)
  )
