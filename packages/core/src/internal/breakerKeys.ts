/** Kept apart from CircuitBreaker.ts so the internal modules can read them while it loads. */

export const defaults = {
  failureThreshold: 5,
  openDuration: "60 seconds",
  maxProbes: 1,
  successThreshold: 2,
  halfOpenRetryAfter: "1 second",
  ratio: 0.5,
  slowCallRatio: 1,
  slowCallThreshold: "60 seconds",
  windowSize: 100,
  minimumThroughput: 100,
  buckets: 10
} as const

export const configKeys = {
  failureThreshold: "FAILURE_THRESHOLD",
  failureRatio: "FAILURE_RATIO",
  slowCallDuration: "SLOW_CALL_DURATION",
  slowCallRatio: "SLOW_CALL_RATIO",
  windowSize: "WINDOW_SIZE",
  minimumCalls: "MINIMUM_CALLS",
  windowDuration: "WINDOW_DURATION",
  minimumThroughput: "MINIMUM_THROUGHPUT",
  windowBuckets: "WINDOW_BUCKETS",
  openDuration: "OPEN_DURATION",
  maxProbes: "MAX_PROBES",
  successThreshold: "SUCCESS_THRESHOLD",
  halfOpenRetryAfter: "HALF_OPEN_RETRY_AFTER"
} as const
