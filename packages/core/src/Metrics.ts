/**
 * The metrics every Bulwark policy reports. A metric's identity includes its
 * description, so these constants are the one place each is defined; tag them
 * with `Metric.tagged(metric, "policy", name)` (data-first: the data-last form
 * loses the input type in a pipe).
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/**
 * Retries scheduled, tagged by `policy` and the failure's `error` tag.
 *
 * @since 0.1.0
 * @category Retry
 */
export const retryAttempts = Metric.counter("bulwark_retry_attempts_total", {
  description: "Retries scheduled after a failed attempt",
  incremental: true
})

/**
 * Calls that gave up, tagged by `policy` and `reason`.
 *
 * @since 0.1.0
 * @category Retry
 */
export const retryExhausted = Metric.counter("bulwark_retry_exhausted_total", {
  description: "Retried calls that gave up, by reason",
  incremental: true
})

/**
 * The delay chosen before each retry, in seconds, tagged by `policy`.
 *
 * @since 0.1.0
 * @category Retry
 */
export const retryDelaySeconds = Metric.histogram(
  "bulwark_retry_delay_seconds",
  MetricBoundaries.exponential({ start: 0.01, factor: 2, count: 16 }),
  "Delay before each retry, in seconds"
)
