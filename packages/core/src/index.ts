/**
 * @since 0.1.0
 */
export * as AdaptiveLimiter from "./AdaptiveLimiter.js"
/**
 * @since 0.1.0
 */
export * as Backoff from "./Backoff.js"
/**
 * @since 0.1.0
 */
export * as Bulkhead from "./Bulkhead.js"
/**
 * @since 0.1.0
 */
export * as CircuitBreaker from "./CircuitBreaker.js"
/**
 * @since 0.1.0
 */
export * as CircuitBreakers from "./CircuitBreakers.js"
/**
 * @since 0.1.0
 */
export * as Classify from "./Classify.js"
/**
 * @since 0.1.0
 */
export * as ConfigErrors from "./ConfigErrors.js"
/**
 * @since 0.1.0
 */
export * as Errors from "./Errors.js"
/**
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.js"
/**
 * @since 0.1.0
 */
export * as Policy from "./Policy.js"
/**
 * @since 0.1.0
 */
export * as RateLimiter from "./RateLimiter.js"
/**
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"
/**
 * @since 0.1.0
 */
export * as RetryAfter from "./RetryAfter.js"
/**
 * @since 0.1.0
 */
export * as RetryAfterGate from "./RetryAfterGate.js"
/**
 * @since 0.1.0
 */
export * as RetryBudget from "./RetryBudget.js"
/**
 * @since 0.1.0
 */
export * as Timeout from "./Timeout.js"
