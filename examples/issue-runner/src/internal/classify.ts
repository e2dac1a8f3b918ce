/**
 * What a failure of a client call means for the job: try the whole job again
 * later, give up, or (for a comment) stop because it may already exist.
 */
import { Classify, RetryAfter } from "@bulwark/core"
import type { Duration } from "effect"
import { CommentOutcomeUnknown, type JobError, UpstreamRefused, UpstreamUnavailable } from "../RunnerErrors.js"

const field = (error: unknown, name: string): unknown =>
  typeof error === "object" && error !== null && name in error ? (error as Record<string, unknown>)[name] : undefined

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : typeof field(error, "message") === "string"
    ? String(field(error, "message"))
    : String(error)

const statusOf = (error: unknown): number | undefined => {
  const status = field(error, "status")
  return typeof status === "number" ? status : undefined
}

const serviceOf = (error: unknown, fallback: string): string => {
  const service = field(error, "service") ?? field(error, "policy")
  return typeof service === "string" ? service : fallback
}

/** Answers that say the service did nothing with the request (and the refusals of our own policies). */
const nothingDone = new Set(["RateLimited", "Unavailable", "Overloaded", ...Classify.localRejectionTags])

const unavailable = (
  stage: UpstreamUnavailable["stage"],
  service: string,
  failure: unknown,
  detail: string,
  retryAfter: Duration.Duration | undefined
) =>
  new UpstreamUnavailable({
    stage,
    service,
    failure: Classify.tagOf(failure) ?? "Error",
    detail,
    ...(retryAfter === undefined ? {} : { retryAfter })
  })

const refused = (stage: UpstreamRefused["stage"], service: string, error: unknown) => {
  const status = statusOf(error)
  return new UpstreamRefused({
    stage,
    service,
    failure: Classify.tagOf(error) ?? "Error",
    detail: messageOf(error),
    ...(status === undefined ? {} : { status })
  })
}

/**
 * A failure of the LLM call. A completion is safe to ask again, so anything
 * transient (the request level's retries exhausted, its deadline, an open
 * breaker) re-queues the job; a refusal (4xx, quota) fails it.
 */
export const draftFailure = (service: string, error: unknown): JobError => {
  const tag = Classify.tagOf(error)
  if (tag === "RetriesExhausted") {
    const last = field(error, "lastError")
    return Classify.isRetryable(last)
      ? unavailable("draft-reply", serviceOf(last, service), last, messageOf(error), RetryAfter.hint(error))
      : refused("draft-reply", serviceOf(last, service), last)
  }
  if (tag === "DeadlineExceeded" || Classify.isRetryable(error)) {
    return unavailable("draft-reply", serviceOf(error, service), error, messageOf(error), RetryAfter.hint(error))
  }
  return refused("draft-reply", serviceOf(error, service), error)
}

/**
 * A failure of the comment call (or of its installation token). The GitHub
 * client retries a comment only after answers that say nothing was created,
 * so its exhausted retries, a rate limit and our own policies' refusals
 * re-queue the job; a failure after which the comment may exist (a 500, 502
 * or 504, a timeout, a lost connection, an unreadable 201) stops it, as a
 * second post would duplicate the comment; a refusal fails it.
 */
export const commentFailure = (service: string, issue: string, error: unknown): JobError => {
  const tag = Classify.tagOf(error) ?? "Error"
  if (tag === "RetriesExhausted") {
    const last = field(error, "lastError")
    return unavailable("post-comment", serviceOf(last, service), last, messageOf(error), RetryAfter.hint(error))
  }
  if (nothingDone.has(tag)) {
    return unavailable("post-comment", serviceOf(error, service), error, messageOf(error), RetryAfter.hint(error))
  }
  if (tag === "MalformedResponse" || tag === "DeadlineExceeded" || Classify.isRetryable(error)) {
    return new CommentOutcomeUnknown({ issue, failure: tag, detail: messageOf(error) })
  }
  return refused("post-comment", serviceOf(error, service), error)
}
