/**
 * The metrics of the job supervisor, defined once (a metric's identity
 * includes its description). Tag them data-first:
 * `Metric.tagged(JobMetrics.attempts, "type", name)`.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/**
 * Jobs in the store by `state`, set by each supervisor from the store's
 * `counts` every `metricsInterval` (1 second).
 *
 * @since 0.1.0
 * @category Metrics
 */
export const jobs = Metric.gauge("bulwark_jobs", {
  description: "Jobs in the store, by state"
})

/**
 * Jobs running in this process, by `queue`.
 *
 * @since 0.1.0
 * @category Metrics
 */
export const running = Metric.gauge("bulwark_jobs_running", {
  description: "Jobs running in this supervisor, by queue"
})

/**
 * Attempts started, by `type`.
 *
 * @since 0.1.0
 * @category Metrics
 */
export const attempts = Metric.counter("bulwark_job_attempts_total", {
  description: "Job attempts started",
  incremental: true
})

/**
 * Attempts ended, by `type` and `outcome` (`succeeded`, `requeued`,
 * `rate-limited`, `failed`, `cancelled`, `released`, `suspended` — a long
 * workflow sleep gave its slot back —, `lease-lost`).
 *
 * @since 0.1.0
 * @category Metrics
 */
export const outcomes = Metric.counter("bulwark_job_outcomes_total", {
  description: "Job attempts ended, by outcome",
  incremental: true
})

/**
 * Re-queues, by `type` and `reason` (`backoff`, `rate-limited`).
 *
 * @since 0.1.0
 * @category Metrics
 */
export const requeues = Metric.counter("bulwark_job_requeues_total", {
  description: "Failed job attempts re-queued",
  incremental: true
})

/**
 * How long each attempt ran, in seconds, by `type`.
 *
 * @since 0.1.0
 * @category Metrics
 */
export const durationSeconds = Metric.histogram(
  "bulwark_job_duration_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 20 }),
  "Duration of each job attempt, in seconds"
)

/**
 * Queue lag: from the time a job was due (its `runAt`) to its start, in seconds, by `type`.
 *
 * @since 0.1.0
 * @category Metrics
 */
export const lagSeconds = Metric.histogram(
  "bulwark_job_lag_seconds",
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 20 }),
  "Time from a job being due to its start, in seconds"
)
