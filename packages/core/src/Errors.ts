/**
 * The error families every Bulwark policy speaks.
 *
 * Retryable (transient) families: {@link RateLimited}, {@link Overloaded},
 * {@link Unavailable}, {@link ServerError}, {@link TimedOut} and
 * {@link ConnectionFailed}. Non-retryable: {@link Rejected}. Any of them may carry a
 * server delay hint in `retryAfter`, which the retry policy honours.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

const common = {
  /** The service that produced the failure (`orpheus`, `claude_api`, ...). */
  service: Schema.optional(Schema.String),
  /** The HTTP status, when the failure came from a response. */
  status: Schema.optional(Schema.Number),
  /** What the server or transport said, bounded by whoever builds the error. */
  detail: Schema.optional(Schema.String)
}

const hinted = {
  ...common,
  /** How long the server asked us to wait before trying again. */
  retryAfter: Schema.optional(Schema.DurationFromMillis)
}

interface Describable {
  readonly _tag: string
  readonly service?: string | undefined
  readonly status?: number | undefined
  readonly detail?: string | undefined
  readonly retryAfter?: Duration.Duration | undefined
}

/** @internal */
export const describe = (what: string, error: Describable): string => {
  const from = error.service === undefined ? "" : ` from ${error.service}`
  const status = error.status === undefined ? "" : ` (HTTP ${error.status})`
  const detail = error.detail === undefined ? "" : `: ${error.detail}`
  const hint = error.retryAfter === undefined ? "" : `; retry after ${Duration.format(error.retryAfter)}`
  return `${what}${from}${status}${detail}${hint}`
}

/**
 * The server is limiting our request rate (HTTP 429, "GPU busy").
 *
 * @since 0.1.0
 * @category Transient
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", hinted) {
  /** @since 0.1.0 */
  override get message(): string {
    return describe("rate limited", this)
  }
}

/**
 * The server is up but its queue is full (Ollama's 503 "server busy").
 *
 * @since 0.1.0
 * @category Transient
 */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", hinted) {
  /** @since 0.1.0 */
  override get message(): string {
    return describe("overloaded", this)
  }
}

/**
 * The service is temporarily unavailable (HTTP 503).
 *
 * @since 0.1.0
 * @category Transient
 */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", hinted) {
  /** @since 0.1.0 */
  override get message(): string {
    return describe("unavailable", this)
  }
}

/**
 * Any other server-side failure (HTTP 500, 502, 504, ...): worth another try.
 *
 * @since 0.1.0
 * @category Transient
 */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", hinted) {
  /** @since 0.1.0 */
  override get message(): string {
    return describe("server error", this)
  }
}

/**
 * The call did not finish in time (HTTP 408, a client-side timeout).
 *
 * @since 0.1.0
 * @category Transient
 */
export class TimedOut extends Schema.TaggedError<TimedOut>()("TimedOut", {
  ...hinted,
  /** The timeout that elapsed, when known. */
  after: Schema.optional(Schema.DurationFromMillis)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return describe(this.after === undefined ? "timed out" : `timed out after ${Duration.format(this.after)}`, this)
  }
}

/**
 * The connection could not be made or was reset.
 *
 * @since 0.1.0
 * @category Transient
 */
export class ConnectionFailed extends Schema.TaggedError<ConnectionFailed>()("ConnectionFailed", hinted) {
  /** @since 0.1.0 */
  override get message(): string {
    return describe("connection failed", this)
  }
}

/**
 * The request itself was refused (401, 403, 404 and other 4xx): retrying it
 * unchanged cannot help.
 *
 * @since 0.1.0
 * @category Permanent
 */
export class Rejected extends Schema.TaggedError<Rejected>()("Rejected", common) {
  /** @since 0.1.0 */
  override get message(): string {
    return describe("rejected", this)
  }
}

/**
 * @since 0.1.0
 * @category Transient
 */
export type Transient = RateLimited | Overloaded | Unavailable | ServerError | TimedOut | ConnectionFailed

/**
 * @since 0.1.0
 * @category Schemas
 */
export const Transient = Schema.Union(RateLimited, Overloaded, Unavailable, ServerError, TimedOut, ConnectionFailed)

/**
 * A policy was given an option it cannot work with. Raised when the policy is
 * built, never while it runs.
 *
 * @since 0.1.0
 * @category Configuration
 */
export class InvalidPolicy extends Schema.TaggedError<InvalidPolicy>()("InvalidPolicy", {
  /** Which policy (`retry`, `circuit-breaker`, ...). */
  policy: Schema.String,
  /** The option's name, as the user spelled it. */
  field: Schema.String,
  /** The offending value, rendered for humans. */
  value: Schema.String,
  /** What a valid value looks like. */
  expected: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `invalid ${this.policy} option ${this.field} = ${this.value}: expected ${this.expected}`
  }
}
