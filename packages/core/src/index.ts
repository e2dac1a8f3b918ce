/**
 * @since 0.1.0
 */
export * as Backoff from "./Backoff.js"
export * as Classify from "./Classify.js"
export * as Errors from "./Errors.js"
export * as Metrics from "./Metrics.js"
export * as Retry from "./Retry.js"
export * as RetryAfter from "./RetryAfter.js"
export * as RetryBudget from "./RetryBudget.js"
