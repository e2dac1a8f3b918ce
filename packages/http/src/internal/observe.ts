import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as HttpFailures from "../HttpFailures.js"
import * as HttpMetrics from "../HttpMetrics.js"

/** Query parameters whose values never reach a span: credentials and signatures. */
const secretParam = /key|token|secret|sig|password|passwd|auth|credential|session|code/i

/**
 * The URL for `url.full`: user info dropped, the values of query parameters
 * that look like credentials replaced by `REDACTED` (OTel semantic conventions).
 */
export const redactedUrl = (url: string, params: UrlParams.UrlParams): string => {
  let base = url
  let query: Array<readonly [string, string]> = [...params]
  const mark = url.indexOf("?")
  if (mark >= 0) {
    base = url.slice(0, mark)
    query = [...new URLSearchParams(url.slice(mark + 1)), ...query]
  }
  base = base.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1")
  if (query.length === 0) return base
  const shown = query.map(([name, value]) => [name, secretParam.test(name) ? "REDACTED" : value] as const)
  return `${base}?${UrlParams.toString(UrlParams.fromInput(shown))}`
}

const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : "unknown"

const messageOf = (error: unknown): string => error instanceof Error ? error.message : String(error)

/** The metrics of one service, tagged once per combination of tags. */
const tagged = <M extends Metric.Metric<any, any, any>>(base: M, service: string, names: ReadonlyArray<string>) => {
  const cache = new Map<string, M>()
  return (...values: ReadonlyArray<string>): M => {
    const key = values.join("\u0000")
    let metric = cache.get(key)
    if (metric === undefined) {
      metric = Metric.tagged(base, "service", service) as M
      for (let i = 0; i < names.length; i++) metric = Metric.tagged(metric, names[i]!, values[i]!) as M
      cache.set(key, metric)
    }
    return metric
  }
}

/** What every attempt of one service reports: metrics, span attributes, a log line on a retryable failure. */
export const observer = (service: string) => {
  const requests = tagged(HttpMetrics.requests, service, ["method", "status_class"])
  const failures = tagged(HttpMetrics.failures, service, ["error"])
  const hints = tagged(HttpMetrics.hints, service, ["header", "verdict"])
  const duration = tagged(HttpMetrics.requestDuration, service, ["method"])

  const onFailure = (method: string, attempt: number, error: unknown, retryable: boolean) => {
    const facts = HttpFailures.failedResponse(error)
    const status = facts?.response.status
    const effects: Array<Effect.Effect<void>> = [
      Metric.increment(requests(method, HttpMetrics.statusClass(status))),
      Metric.increment(failures(tagOf(error)))
    ]
    const annotations: Record<string, unknown> = { "bulwark.attempt": attempt }
    if (status !== undefined) annotations["http.response.status_code"] = status
    effects.push(Effect.annotateCurrentSpan(annotations))
    const log: Record<string, unknown> = { attempt, error: tagOf(error) }
    const said: Array<string> = []
    // The retry policy writes the WARN line of a retry: what failed (the error's message names any
    // hint that was ignored) and what it does next. This line adds the response's facts at DEBUG.
    if (facts !== undefined) {
      log.status = status
      const { hint, shouldRetry } = facts
      if (hint._tag !== "None") {
        effects.push(Metric.increment(hints(hint.header, hint._tag === "Delay" ? "delay" : "invalid")))
        log.hint_header = hint.header
        log.hint_raw = hint.raw
        if (hint._tag === "Delay") {
          log.hint_ms = Duration.toMillis(hint.retryAfter)
          said.push(`server hint ${hint.header} "${hint.raw}" → ${Duration.format(hint.retryAfter)}`)
        }
      }
      if (shouldRetry._tag !== "None") {
        const verdict = shouldRetry._tag === "Force" ? String(shouldRetry.retry) : "invalid"
        effects.push(
          Metric.increment(hints(shouldRetry._tag === "Force" ? "x-should-retry" : shouldRetry.header, verdict))
        )
        log.should_retry_raw = shouldRetry.raw
        if (shouldRetry._tag === "Force") said.push(`x-should-retry "${shouldRetry.raw}"`)
      }
    }
    if (retryable) {
      const hintText = said.length === 0 ? "" : `; ${said.join("; ")}`
      const line = `${service} ${method} attempt ${attempt} failed: ${messageOf(error)}${hintText}`
      effects.push(Effect.annotateLogs(Effect.logDebug(line), log))
    }
    return Effect.all(effects, { discard: true })
  }

  /** Wraps one attempt; `retryable` says whether the request's policy would retry its failure. */
  const attempt = <E, R>(
    self: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>,
    method: string,
    attempt: number,
    retryable: (error: unknown) => boolean
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, E, R> =>
    Effect.flatMap(
      Clock.currentTimeMillis,
      (start) =>
        Effect.onExit(self, (exit) =>
          Effect.flatMap(Clock.currentTimeMillis, (end) => {
            const timed = Metric.update(duration(method), (end - start) / 1000)
            if (Exit.isSuccess(exit)) {
              const status = exit.value.status
              return Effect.all([
                timed,
                Metric.increment(requests(method, HttpMetrics.statusClass(status))),
                Effect.annotateCurrentSpan({ "bulwark.attempt": attempt, "http.response.status_code": status })
              ], { discard: true })
            }
            const failure = Cause.failureOption(exit.cause)
            if (failure._tag === "None") {
              // Interrupted: an attempt timeout (counted by kind in bulwark_timeouts_total) or the caller.
              return Effect.all([
                timed,
                Metric.increment(requests(method, "none")),
                Metric.increment(failures("Interrupted")),
                Effect.annotateCurrentSpan({ "bulwark.attempt": attempt })
              ], { discard: true })
            }
            return Effect.zipRight(timed, onFailure(method, attempt, failure.value, retryable(failure.value)))
          }))
    )

  /** The ERROR line of a request the policy gave up on, or would retry but may not (an unkeyed POST). */
  const gaveUp = (
    error: unknown,
    method: string,
    url: string,
    attempts: number,
    retryable: (error: unknown) => boolean
  ): Effect.Effect<void> => {
    const tag = tagOf(error)
    if (tag !== "RetriesExhausted" && tag !== "DeadlineExceeded" && !retryable(error)) return Effect.void
    const plural = attempts === 1 ? "" : "s"
    return Effect.annotateLogs(
      Effect.logError(`${service} ${method} ${url} gave up after ${attempts} attempt${plural}: ${messageOf(error)}`),
      { attempts, error: tag }
    )
  }

  return { attempt, gaveUp }
}
