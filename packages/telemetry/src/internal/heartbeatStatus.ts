import type * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as DateTime from "effect/DateTime"

/**
 * Seed 003 rounds to one decimal; rounding up instead never shows `0` while the
 * breaker would still refuse, so a client that waits what it reads is not refused.
 */
export const roundUpTenths = (seconds: number): number => Math.ceil(Math.round(seconds * 1000) / 100) / 10

/** Seed 003: degraded while the breaker is not letting every call through. */
export const isDegraded = (state: CircuitBreaker.State): boolean => state !== "CLOSED"

export const utc = (millis: number | undefined): DateTime.Utc | null =>
  millis === undefined ? null : DateTime.unsafeMake(millis)

/** The fields of `CircuitBreaker.Stats`, as the wire schema's Type reads them. */
export const fromStats = (stats: CircuitBreaker.Stats) => ({
  service: stats.service,
  state: stats.state,
  degraded: isDegraded(stats.state),
  consecutiveFailures: stats.consecutiveFailures,
  secondsUntilRetry: stats.secondsUntilRetry === undefined ? null : roundUpTenths(stats.secondsUntilRetry),
  failureCount: stats.failureCount,
  openings: stats.openings,
  probesInFlight: stats.probesInFlight,
  probeSuccesses: stats.probeSuccesses,
  isolations: stats.isolations,
  lastFailureTime: utc(stats.lastFailureTime),
  lastSuccessTime: utc(stats.lastSuccessTime)
})
