/**
 * A small load generator: one `GET /summary` every `interval` for `duration`,
 * over real HTTP, with a log line per answer, so a person watching sees the
 * page degrade and recover while the breakers log their transitions.
 */
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { Clock, Duration, Effect, Schedule } from "effect"
import { Summary } from "./Service.js"

export interface Report {
  readonly requests: number
  readonly ok: number
  readonly degraded: number
  readonly down: number
  /** Requests that got no summary at all (the service itself failed). */
  readonly failed: number
}

/** "ollama ok, openai failed [breaker OPEN]: …": the breaker's state is shown unless CLOSED. */
const line = (summary: Summary) =>
  Object.entries(summary.parts).map(([name, part]) => {
    const breaker = part.breaker === "CLOSED" ? "" : ` [breaker ${part.breaker}]`
    return part.ok ? `${name} ok${breaker}` : `${name} failed${breaker}: ${part.error}`
  }).join(", ")

/** Calls `${url}/summary` every `interval` until `duration` has passed; needs an `HttpClient`. */
export const run = (options: {
  readonly url: string
  readonly duration: Duration.DurationInput
  readonly interval: Duration.DurationInput
}) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const counts = { requests: 0, ok: 0, degraded: 0, down: 0, failed: 0 }
    const start = yield* Clock.currentTimeMillis
    const call = Effect.gen(function*() {
      const n = ++counts.requests
      const at = ((yield* Clock.currentTimeMillis) - start) / 1000
      const summary = yield* client.get(`${options.url}/summary`, { urlParams: { topic: "circuit breakers" } }).pipe(
        Effect.flatMap(HttpClientResponse.schemaBodyJson(Summary)),
        Effect.scoped,
        Effect.either
      )
      if (summary._tag === "Left") {
        counts.failed++
        return yield* Effect.logError(`load #${n} at ${at.toFixed(1)}s: no summary: ${summary.left.message}`)
      }
      counts[summary.right.status]++
      const log = summary.right.status === "ok" ? Effect.logInfo : Effect.logWarning
      yield* log(`load #${n} at ${at.toFixed(1)}s: ${summary.right.status}: ${line(summary.right)}`)
    })
    const interval = Duration.decode(options.interval)
    const runs = Math.max(0, Math.floor(Duration.toMillis(options.duration) / Math.max(1, Duration.toMillis(interval))))
    if (runs > 0) {
      yield* Effect.repeat(call, Schedule.fixed(interval).pipe(Schedule.intersect(Schedule.recurs(runs - 1))))
    }
    return counts satisfies Report
  }).pipe(Effect.annotateLogs("component", "load"), Effect.withSpan("heartbeat.load"))

/** For the end of a run: the report as one line. */
export const format = (report: Report) =>
  `${report.requests} requests: ${report.ok} ok, ${report.degraded} degraded, ${report.down} down, ${report.failed} failed`
