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

/**
 * A circuit breaker's state, tagged by `service`: 0 closed, 1 half-open, 2 open, 3 isolated.
 *
 * @since 0.1.0
 * @category CircuitBreaker
 */
export const circuitState = Metric.gauge("bulwark_circuit_state", {
  description: "Circuit breaker state: 0 closed, 1 half-open, 2 open, 3 isolated"
})

/**
 * State transitions, tagged by `service`, `from` and `to`.
 *
 * @since 0.1.0
 * @category CircuitBreaker
 */
export const circuitTransitions = Metric.counter("bulwark_circuit_transitions_total", {
  description: "Circuit breaker state transitions",
  incremental: true
})

/**
 * Calls refused without being made, tagged by `service` and `state`.
 *
 * @since 0.1.0
 * @category CircuitBreaker
 */
export const circuitRejections = Metric.counter("bulwark_circuit_rejections_total", {
  description: "Calls rejected by an open or isolated circuit breaker",
  incremental: true
})

/**
 * Calls running inside a bulkhead, tagged by `service`.
 *
 * @since 0.1.0
 * @category Bulkhead
 */
export const bulkheadActive = Metric.gauge("bulwark_bulkhead_active", {
  description: "Calls running inside the bulkhead"
})

/**
 * Calls waiting for a bulkhead slot, tagged by `service`.
 *
 * @since 0.1.0
 * @category Bulkhead
 */
export const bulkheadQueued = Metric.gauge("bulwark_bulkhead_queued", {
  description: "Calls waiting in the bulkhead's queue"
})

/**
 * Calls a bulkhead refused, tagged by `service` and `reason` (`full`, `queue-timeout`).
 *
 * @since 0.1.0
 * @category Bulkhead
 */
export const bulkheadRejections = Metric.counter("bulwark_bulkhead_rejections_total", {
  description: "Calls rejected by a full bulkhead or a queue-wait timeout",
  incremental: true
})

/**
 * Time calls waited for a rate limiter, in seconds, tagged by `service`.
 *
 * @since 0.1.0
 * @category RateLimiter
 */
export const rateLimiterWaitSeconds = Metric.histogram(
  "bulwark_rate_limiter_wait_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 18 }),
  "Time calls waited for the rate limiter, in seconds"
)

/**
 * Calls a rate limiter refused, tagged by `service`.
 *
 * @since 0.1.0
 * @category RateLimiter
 */
export const rateLimiterRejections = Metric.counter("bulwark_rate_limiter_rejections_total", {
  description: "Calls rejected by a rate limiter in reject mode",
  incremental: true
})

/**
 * The current limit of an adaptive concurrency limiter, tagged by `service`.
 *
 * @since 0.1.0
 * @category AdaptiveLimiter
 */
export const adaptiveLimit = Metric.gauge("bulwark_adaptive_limit", {
  description: "Current concurrency limit of the adaptive limiter"
})

/**
 * Calls in flight under an adaptive limiter, tagged by `service`.
 *
 * @since 0.1.0
 * @category AdaptiveLimiter
 */
export const adaptiveInflight = Metric.gauge("bulwark_adaptive_inflight", {
  description: "Calls in flight under the adaptive limiter"
})

/**
 * Calls that waited on a shared Retry-After gate, tagged by `service`.
 *
 * @since 0.1.0
 * @category AdaptiveLimiter
 */
export const retryAfterGateWaits = Metric.counter("bulwark_retry_after_gate_waits_total", {
  description: "Calls that waited for a service's shared Retry-After gate",
  incremental: true
})

/**
 * Timeouts, tagged by `service` and `kind` (`attempt`, `total`).
 *
 * @since 0.1.0
 * @category Timeout
 */
export const timeouts = Metric.counter("bulwark_timeouts_total", {
  description: "Attempt and total timeouts",
  incremental: true
})

/**
 * Retry tokens left in a service's retry budget, tagged by `service`.
 *
 * @since 0.1.0
 * @category RetryBudget
 */
export const retryBudgetBalance = Metric.gauge("bulwark_retry_budget_balance", {
  description: "Retries the budget would allow now"
})

/**
 * Retries refused because the budget was empty, tagged by `service`.
 *
 * @since 0.1.0
 * @category RetryBudget
 */
export const retryBudgetExhausted = Metric.counter("bulwark_retry_budget_exhausted_total", {
  description: "Retries refused by an empty retry budget",
  incremental: true
})
