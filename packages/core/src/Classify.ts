/**
 * Which failures are worth another try. The defaults follow the seeds: 408, 429
 * and 5xx are transient, 401, 403, 404 and every other 4xx are not. Every default
 * is a plain predicate, so a policy can swap it for its own.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Errors from "./Errors.js"
import * as RateLimiter from "./RateLimiter.js"

/**
 * A classification of failures.
 *
 * @since 0.1.0
 * @category Models
 */
export type Predicate = (error: unknown) => boolean

/**
 * Tags of the calls Bulwark's own policies refused before they reached the
 * service: a circuit breaker, a bulkhead, a limiter or a Retry-After gate said no.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const localRejectionTags: ReadonlySet<string> = new Set([
  "CircuitOpen",
  "CircuitIsolated",
  "BulkheadFull",
  "BulkheadQueueTimeout",
  "LimitExceeded",
  "LimitQueueTimeout",
  "GateClosed"
])

/**
 * Tags that are transient by default: the service's transient families, a
 * per-attempt timeout (`AttemptTimedOut`, and `TimeoutException`, what
 * `Effect.timeout` fails with), and the local rejections that pass with time —
 * all but `CircuitIsolated`, which only a person lifts. An open breaker's
 * `CircuitOpen` carries the remaining open time as its `retryAfter`, so a retry
 * waits exactly that long.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const retryableTags: ReadonlySet<string> = new Set([
  "RateLimited",
  "Overloaded",
  "Unavailable",
  "ServerError",
  "TimedOut",
  "ConnectionFailed",
  "AttemptTimedOut",
  "TimeoutException",
  ...[...localRejectionTags].filter((tag) => tag !== "CircuitIsolated")
])

/**
 * The `_tag` of a tagged value, or `undefined`.
 *
 * @since 0.1.0
 * @category Guards
 */
export const tagOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : undefined

/**
 * Matches failures whose `_tag` is one of `tags`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const tagged = (...tags: ReadonlyArray<string>): Predicate => {
  const set = new Set(tags)
  return (error) => {
    const tag = tagOf(error)
    return tag !== undefined && set.has(tag)
  }
}

/**
 * The default: the transient families of {@link Errors} and `TimeoutException`.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const isRetryable: Predicate = (error) => {
  const tag = tagOf(error)
  return tag !== undefined && retryableTags.has(tag)
}

/**
 * Worth trying again later, at an outer layer: a retryable failure, or an
 * inner retry that gave up on one (`RetriesExhausted` whose `lastError` is
 * transient), or a total deadline that passed. Seed 001's layering: a
 * request-level retry that ran out re-queues the job instead of failing it.
 * The job supervisor's default `retryOn`.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const isTransient: Predicate = (error) => {
  const tag = tagOf(error)
  if (tag === "RetriesExhausted") return isTransient((error as { readonly lastError: unknown }).lastError)
  return tag === "DeadlineExceeded" || isRetryable(error)
}

/**
 * A refusal by one of Bulwark's own policies, not by the service: a tag of
 * {@link localRejectionTags}, or the `RateLimited` of a local rate limiter in
 * reject mode (which shares its tag with a server's 429).
 *
 * @since 0.1.0
 * @category Defaults
 */
export const isLocalRejection: Predicate = (error) => {
  const tag = tagOf(error)
  return tag !== undefined && (localRejectionTags.has(tag) || RateLimiter.isRejection(error))
}

/**
 * A transient failure of the service itself: what a circuit breaker counts by
 * default. The refusals of Bulwark's own policies say nothing about the service.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const isServiceFailure: Predicate = (error) => isRetryable(error) && !isLocalRejection(error)

/**
 * The server asked us to slow down: "GPU busy" is not a failure of the request.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const isRateLimited: Predicate = tagged("RateLimited")

/**
 * Either predicate matches.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const or = (...predicates: ReadonlyArray<Predicate>): Predicate => (error) =>
  predicates.some((predicate) => predicate(error))

/**
 * The first predicate matches and the second does not.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const except = (predicate: Predicate, excluded: Predicate): Predicate => (error) =>
  predicate(error) && !excluded(error)

/**
 * Whether an HTTP status is worth another try: 408, 429 and 5xx.
 *
 * @since 0.1.0
 * @category HTTP
 */
export const isRetryableStatus = (status: number): boolean =>
  status === 408 || status === 429 || (status >= 500 && status <= 599)

/**
 * What the caller knows about a failed response besides its status.
 *
 * @since 0.1.0
 * @category HTTP
 */
export interface ResponseFacts {
  readonly service?: string | undefined
  readonly detail?: string | undefined
  readonly retryAfter?: Duration.Duration | undefined
}

/**
 * The error family of a failed HTTP response: 408 → TimedOut, 429 → RateLimited,
 * 503 → Unavailable, other 5xx → ServerError, anything else → Rejected.
 *
 * @since 0.1.0
 * @category HTTP
 */
export const fromHttpStatus = (status: number, facts: ResponseFacts = {}): Errors.Transient | Errors.Rejected => {
  const fields = { ...facts, status }
  if (status === 408) return new Errors.TimedOut(fields)
  if (status === 429) return new Errors.RateLimited(fields)
  if (status === 503) return new Errors.Unavailable(fields)
  if (status >= 500 && status <= 599) return new Errors.ServerError(fields)
  const { retryAfter: _, ...permanent } = fields
  return new Errors.Rejected(permanent)
}
