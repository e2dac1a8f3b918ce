import * as Classify from "@bulwark/core/Classify"
import * as RetryAfter from "@bulwark/core/RetryAfter"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import type { JobRecord, StoredError } from "../Job.js"
import type { Outcome } from "../JobStore.js"
import * as JobType from "../JobType.js"
import { makeToken } from "./storeCommon.js"

/** What the supervisor decided for a failed attempt, and why (for logs and metrics). */
export interface Decision {
  readonly outcome: Outcome
  readonly reason: "backoff" | "rate-limited" | "exhausted" | "not-retryable" | "defect"
  readonly delayMillis: number
}

const messageOf = (error: unknown): string => {
  if (error instanceof Error) return error.message
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
    return error.message
  }
  return String(error)
}

/** A failure as stored: encoded by the type's error Schema when it describes the failure. */
export const storedError = (
  type: JobType.Any,
  error: unknown,
  attempt: number,
  at: number
): StoredError => {
  const base = { tag: Classify.tagOf(error) ?? "Error", message: messageOf(error), attempt, at }
  if (type.error === undefined) return base
  const encoded = Schema.encodeUnknownOption(type.error)(error)
  return Option.isSome(encoded) ? { ...base, encoded: encoded.value } : base
}

/** A failure that is not the handler's typed error (a defect, a self-interruption). */
export const storedCause = (cause: Cause.Cause<unknown>, attempt: number, at: number): StoredError => ({
  tag: Cause.isInterruptedOnly(cause) ? "Interrupted" : "Defect",
  message: Cause.pretty(cause).split("\n")[0] ?? "defect",
  attempt,
  at
})

/** Stored error for something that went wrong around the handler (payload, result Schema). */
export const storedIssue = (tag: string, error: ParseResult.ParseError, attempt: number, at: number): StoredError => ({
  tag,
  message: ParseResult.TreeFormatter.formatErrorSync(error),
  attempt,
  at
})

/**
 * Re-queue or end: a Retry-After hint re-queues without an attempt while the
 * job's `maxRateLimited` allows; then a retryable failure re-queues after the
 * backoff (never shorter than a hint) while attempts are left.
 */
export const decide = (
  settings: JobType.Settings<unknown>,
  record: JobRecord,
  error: unknown,
  now: number
): Effect.Effect<Decision> =>
  Effect.gen(function*() {
    const hint = settings.retryAfter(error)
    if (hint !== undefined && record.rateLimited < record.maxRateLimited) {
      const delayMillis = RetryAfter.ceilMillis(hint)
      return {
        outcome: { _tag: "Retry", runAt: now + delayMillis, counted: false },
        reason: "rate-limited",
        delayMillis
      }
    }
    if (!settings.retryOn(error)) return { outcome: { _tag: "Fail" }, reason: "not-retryable", delayMillis: 0 }
    if (record.attempts >= record.maxAttempts) return { outcome: { _tag: "Fail" }, reason: "exhausted", delayMillis: 0 }
    const random = settings.jitter === "none" ? 0 : yield* Random.next
    const backoff = JobType.delayMillis(settings, record.attempts, random)
    const delayMillis = RetryAfter.delayMillis("floor", backoff, hint)
    return { outcome: { _tag: "Retry", runAt: now + delayMillis, counted: true }, reason: "backoff", delayMillis }
  })

/** 32 hex characters from Effect's Random. */
export const randomHex: Effect.Effect<string> = makeToken
