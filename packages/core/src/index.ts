/**
 * @since 0.1.0
 */
export * as AdaptiveLimiter from "./AdaptiveLimiter.js"
export * as Backoff from "./Backoff.js"
export * as Bulkhead from "./Bulkhead.js"
export * as CircuitBreaker from "./CircuitBreaker.js"
export * as CircuitBreakers from "./CircuitBreakers.js"
export * as Classify from "./Classify.js"
export * as Errors from "./Errors.js"
export * as Metrics from "./Metrics.js"
export * as Policy from "./Policy.js"
export * as RateLimiter from "./RateLimiter.js"
export * as Retry from "./Retry.js"
export * as RetryAfter from "./RetryAfter.js"
export * as RetryAfterGate from "./RetryAfterGate.js"
export * as RetryBudget from "./RetryBudget.js"
export * as Timeout from "./Timeout.js"
