import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { constant } from "effect/Function"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import { tagOf } from "../Classify.js"
import type { Failure, GiveUpReason, Policy, Surface } from "../Retry.js"
import { describeReason, RetriesExhausted } from "../Retry.js"
import * as RetryAfter from "../RetryAfter.js"
import * as Timeout from "../Timeout.js"
import { spanEvent } from "./spanEvent.js"

const infinity = constant(Infinity)

interface Progress {
  /** When the first call started. */
  readonly start: number
  /** Calls made so far. */
  readonly calls: number
  /** Retries that used up an attempt. */
  readonly counted: number
  /** Free rate-limited retries. */
  readonly free: number
  /** The backoff schedule's state. */
  readonly state: unknown
}

/** As the seeds write it ("Retrying in 1.0s"), in milliseconds below a tenth of a second. */
const formatDelay = (millis: number) => millis < 100 ? `${millis}ms` : `${(millis / 1000).toFixed(1)}s`

const describeError = (error: unknown): string => {
  const tag = tagOf(error)
  const message = error instanceof Error ? error.message : typeof error === "string" ? error : ""
  return [tag, message].filter((part) => part !== undefined && part !== "").join(" ") || String(error)
}

/**
 * Runs `self`, and on each failure decides, from the policy and the failure,
 * whether to give up or to sleep and call again. The happy path is one clock
 * read and one `catchAll`; everything else happens only after a failure.
 */
export const retryLoop = <A, E extends E2, R, E2, S extends Surface>(
  self: Effect.Effect<A, E, R>,
  policy: Policy<E2, S>
): Effect.Effect<A, Failure<E, S>, R> => {
  const attemptLabel = (counted: number) =>
    policy.maxAttempts === Infinity ? `[Attempt ${counted + 1}]` : `[Attempt ${counted + 1}/${policy.maxAttempts}]`

  const giveUp = (
    progress: Progress,
    error: E,
    now: number,
    reason: GiveUpReason
  ): Effect.Effect<never, Failure<E, S>> => {
    const retryAfter = RetryAfter.hint(error)
    const failure = policy.exhausted === "last-error" ? error : new RetriesExhausted<E>({
      policy: policy.name,
      reason,
      attempts: progress.calls,
      elapsed: Duration.millis(now - progress.start),
      lastError: error,
      retryAfter
    })
    return Metric.increment(Metric.tagged(policy.metrics.exhausted, "reason", reason)).pipe(
      Effect.zipRight(
        Effect.logWarning(
          `${attemptLabel(progress.counted)} ${policy.name} failed: ${describeError(error)}. Giving up: ${
            describeReason(reason)
          }`
        )
      ),
      Effect.zipRight(spanEvent("bulwark.retry.exhausted", { policy: policy.name, reason, attempts: progress.calls })),
      Effect.annotateLogs({ policy: policy.name, reason, attempts: progress.calls }),
      Effect.zipRight(Effect.fail(failure as Failure<E, S>))
    )
  }

  const onFailure = (progress: Progress) => (error: E): Effect.Effect<A, Failure<E, S>, R> => {
    if (!policy.retryOn(error)) return Effect.fail(error)
    return Effect.flatMap(
      Effect.zip(Clock.currentTimeMillis, FiberRef.get(Timeout.currentDeadline)),
      ([now, enclosing]) => {
        const free = policy.rateLimitedAttempts === "free" && policy.isRateLimited(error)
        if (free ? progress.free >= policy.maxRateLimited : progress.counted + 1 >= policy.maxAttempts) {
          return giveUp(progress, error, now, free ? "max-rate-limited" : "max-attempts")
        }
        // A free retry peeks at the backoff without advancing it: "GPU busy" must not
        // make the next real failure wait longer.
        return Effect.flatMap(policy.backoff.step(now, error, progress.state), ([stepped, , decision]) => {
          if (ScheduleDecision.isDone(decision)) return giveUp(progress, error, now, "schedule-done")
          const backoffMillis = Math.max(0, Intervals.start(decision.intervals) - now)
          const hint = policy.retryAfter === "ignore" ? undefined : RetryAfter.hint(error)
          const hintMillis = hint === undefined ? 0 : RetryAfter.ceilMillis(hint)
          if (hintMillis > policy.maxRetryAfterMillis) return giveUp(progress, error, now, "retry-after-beyond-cap")
          const delay = RetryAfter.delayMillis(policy.retryAfter, backoffMillis, hint)
          // The earlier of the policy's own deadline and that of an enclosing Timeout.total.
          const deadline = Math.min(progress.start + policy.maxElapsedMillis, Option.getOrElse(enclosing, infinity))
          if (now + delay > deadline) {
            const hintAlone = hint !== undefined && now + hintMillis > deadline
            return giveUp(progress, error, now, hintAlone ? "retry-after-beyond-deadline" : "deadline")
          }
          const next: Progress = {
            start: progress.start,
            calls: progress.calls + 1,
            counted: free ? progress.counted : progress.counted + 1,
            free: free ? progress.free + 1 : progress.free,
            state: free ? progress.state : stepped
          }
          const retry = retryAfter(progress, next, error, delay, free)
          if (policy.budget === undefined) return retry
          return Effect.flatMap(
            policy.budget.tryWithdraw,
            (allowed) => allowed ? retry : giveUp(progress, error, now, "budget-exhausted")
          )
        })
      }
    )
  }

  const retryAfter = (
    progress: Progress,
    next: Progress,
    error: E,
    delay: number,
    free: boolean
  ): Effect.Effect<A, Failure<E, S>, R> =>
    Metric.increment(Metric.tagged(policy.metrics.attempts, "error", tagOf(error) ?? "unknown")).pipe(
      Effect.zipRight(Metric.update(policy.metrics.delay, delay / 1000)),
      Effect.zipRight(
        Effect.logWarning(
          `${attemptLabel(progress.counted)} ${policy.name} failed: ${describeError(error)}. Retrying in ${
            formatDelay(delay)
          }${free ? " (rate limited: not counted as an attempt)" : ""}`
        )
      ),
      Effect.annotateLogs({ policy: policy.name, attempt: progress.counted + 1, delay_ms: delay }),
      Effect.zipRight(spanEvent("bulwark.retry", {
        policy: policy.name,
        attempt: progress.counted + 1,
        "delay.ms": delay,
        "error.tag": tagOf(error) ?? "unknown",
        "rate_limited.free": free
      })),
      Effect.zipRight(Effect.sleep(Duration.millis(delay))),
      Effect.zipRight(Effect.catchAll(self, onFailure(next)))
    )

  // The start time is read straight from the fiber's Clock service (TestClock
  // included): a `Clock.currentTimeMillis` + `flatMap` would cost the happy path
  // two more steps (see the retry-anatomy benchmark).
  const run = Effect.withFiberRuntime<A, Failure<E, S>, R>((fiber) => {
    const start = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
    return Effect.catchAll(self, onFailure({ start, calls: 1, counted: 0, free: 0, state: policy.backoff.initial }))
  })
  return policy.budget === undefined ? run : Effect.zipRight(policy.budget.deposit, run)
}
