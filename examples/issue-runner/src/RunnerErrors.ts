/**
 * How a reply job can fail, as the job level sees it: the seed's agent
 * returned a `rate_limited` status for "try the whole job again later" and
 * crashed on everything else. Here each outcome has its own tag, stored with
 * the job (encoded by {@link JobError}) so `wait` returns it typed.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The step of the job that failed.
 *
 * @since 0.1.0
 * @category Models
 */
export const Stage = Schema.Literal("draft-reply", "post-comment")

/**
 * @since 0.1.0
 * @category Models
 */
export type Stage = typeof Stage.Type

/**
 * A service stayed rate limited or down through every retry of the layers
 * below (request and tool level): nothing was done, so the job is re-queued.
 * `retryAfter` is the server's last hint, if any: the job then waits it out
 * without using an attempt.
 *
 * @since 0.1.0
 * @category Errors
 */
export class UpstreamUnavailable extends Schema.TaggedError<UpstreamUnavailable>()("UpstreamUnavailable", {
  stage: Stage,
  service: Schema.String,
  /** The tag of the last failure (`ServerError`, `RateLimited`, `CircuitOpen`…). */
  failure: Schema.String,
  detail: Schema.String,
  retryAfter: Schema.optional(Schema.DurationFromMillis)
}) {
  override get message() {
    return `${this.service} unavailable during ${this.stage} (${this.failure}): ${this.detail}`
  }
}

/**
 * The service refused the request (a 4xx: a missing repository, a bad key,
 * an exhausted quota): retrying cannot help, so the job fails at once.
 *
 * @since 0.1.0
 * @category Errors
 */
export class UpstreamRefused extends Schema.TaggedError<UpstreamRefused>()("UpstreamRefused", {
  stage: Stage,
  service: Schema.String,
  failure: Schema.String,
  status: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  override get message() {
    const status = this.status === undefined ? "" : ` HTTP ${this.status}`
    return `${this.service} refused ${this.stage} (${this.failure}${status}): ${this.detail}`
  }
}

/**
 * The comment request failed after it may have reached GitHub (a 500, 502 or
 * 504, a timeout, a connection lost after sending). GitHub cannot deduplicate
 * comments, so neither the tool level nor the job level posts it again: a
 * person checks the issue.
 *
 * @since 0.1.0
 * @category Errors
 */
export class CommentOutcomeUnknown extends Schema.TaggedError<CommentOutcomeUnknown>()("CommentOutcomeUnknown", {
  issue: Schema.String,
  failure: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `the comment on ${this.issue} may or may not exist (${this.failure}: ${this.detail}); not posted again`
  }
}

/**
 * Every failure of a reply job, as stored with the job.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const JobError = Schema.Union(UpstreamUnavailable, UpstreamRefused, CommentOutcomeUnknown)

/**
 * @since 0.1.0
 * @category Models
 */
export type JobError = typeof JobError.Type

/**
 * The issues file cannot be used; names the file (or variable) and why.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidIssuesFile extends Schema.TaggedError<InvalidIssuesFile>()("InvalidIssuesFile", {
  file: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot read the issues from ${this.file}: ${this.reason}`
  }
}
