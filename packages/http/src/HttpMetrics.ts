/**
 * The metrics of `ResilientClient`, defined once: a metric's identity includes
 * its description, so every reader and writer uses these constants. Tag them
 * data-first (`Metric.tagged(HttpMetrics.requests, "service", name)`): the
 * data-last form loses the input type in a pipe.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/**
 * HTTP requests sent, one per attempt, tagged by `service`, `method` and
 * `status_class` (`2xx` … `5xx`, or `none` when no response came back).
 *
 * @since 0.1.0
 * @category Metrics
 */
export const requests = Metric.counter("bulwark_http_requests_total", {
  description: "HTTP requests sent (each attempt), by service, method and status class",
  incremental: true
})

/**
 * Failed attempts, tagged by `service` and the classified `error` tag
 * (`RateLimited`, `Unavailable`, `HttpRejected`, `AttemptTimedOut`, …).
 *
 * @since 0.1.0
 * @category Metrics
 */
export const failures = Metric.counter("bulwark_http_failures_total", {
  description: "Failed HTTP attempts, by service and classified error tag",
  incremental: true
})

/**
 * Hint headers seen on failed responses, tagged by `service`, `header`
 * (`retry-after`, `retry-after-ms`, `x-ratelimit-reset-requests`, …,
 * `x-should-retry`) and `verdict` (`delay`, `invalid`, `true`, `false`).
 *
 * @since 0.1.0
 * @category Metrics
 */
export const hints = Metric.counter("bulwark_http_hints_total", {
  description: "Server hint headers on failed HTTP responses, by header and verdict",
  incremental: true
})

/**
 * The time of each attempt, request sent to response headers (or failure), in
 * seconds, tagged by `service` and `method`.
 *
 * @since 0.1.0
 * @category Metrics
 */
export const requestDuration = Metric.histogram(
  "bulwark_http_request_duration_seconds",
  MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 16 }),
  "Duration of each HTTP attempt until the response headers, in seconds"
)

/**
 * The `status_class` tag of a status: `"2xx"` … `"5xx"`, `"none"` without one.
 *
 * @since 0.1.0
 * @category Metrics
 */
export const statusClass = (status: number | undefined): string =>
  status === undefined || status < 100 || status > 599 ? "none" : `${Math.floor(status / 100)}xx`
