/**
 * One attempt of one job, in its own fiber: decode the payload, run the
 * handler, then settle. The settling runs uninterruptibly, so an interruption
 * (cancel, shutdown, a lost lease) either comes before it — and the claim is
 * released, or left to whoever took it — or after it. The lease is kept
 * alive by the supervisor's one heartbeat, not by the attempt.
 * *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import type { JobRecord, StoredError } from "../Job.js"
import type { Outcome } from "../JobStore.js"
import { JobEvent } from "../JobSupervisor.js"
import * as JobType from "../JobType.js"
import type { Registered, Shared } from "./supervisor.js"
import { decide, storedCause, storedError, storedIssue } from "./supervisorOutcome.js"
import { linksOf } from "./traceContext.js"

/** Runs in a fiber of its own, whose log annotations it sets for good. @internal */
export const runAttempt = (shared: Shared, entry: Registered, record: JobRecord, token: string) => {
  const { store } = shared
  const { metrics, settings, type } = entry
  const id = record.id
  const attempt = record.attempts
  /** Set by a long `Workflow.sleep`: the attempt ends, the job is due again then. */
  let suspendUntil: number | undefined = undefined
  /** The attempt's span and how its handler ended: the span ends once the outcome is settled. */
  let span: Tracer.Span | undefined = undefined
  let handlerExit: Exit.Exit<unknown, unknown> = Exit.void

  const current: JobType.Current = {
    id,
    type: type.name,
    attempt,
    maxAttempts: record.maxAttempts,
    reportProgress: (progress) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => store.progress(id, token, progress, now)),
        Effect.zipRight(PubSub.publish(shared.events, JobEvent.Progress({ id, type: type.name, progress }))),
        Effect.catchAll((error) => Effect.logDebug(`Progress of job ${id} dropped: ${error.message}`))
      ),
    steps: record.steps,
    saveStep: (name, value) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => store.saveStep(id, token, name, value, now)),
    sleepUntil: (wakeAt) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (wakeAt - now <= shared.sleepThresholdMillis) return Effect.sleep(Math.max(0, wakeAt - now))
        // Ends the handler as an interruption would (its finalizers run); settling sees why.
        suspendUntil = wakeAt
        return Effect.interrupt
      })
  }

  /**
   * Runs the handler in the span `JobSupervisor.attempt` (a root span linked
   * to the submitter's, read from the store so it links in any process), with
   * `CurrentJob` provided. The context is set and put back directly rather than
   * through `withSpan` and `provideService`, an acquire/release each (5 % of a
   * no-op job on SQLite): called in the uninterruptible part of the attempt,
   * with `restore` making the handler interruptible. The outer exit fails only
   * when this fiber is interrupted (cancel, shutdown, a lost lease). The span
   * is ended by the caller once the outcome is settled, so the job-level
   * decision (re-queued, failed) is an event of the attempt it ends.
   */
  const runHandler = (payload: unknown, restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const run = type.handler(payload) as Effect.Effect<unknown, unknown, JobType.CurrentJob>
      const timed = settings.timeoutMillis === undefined ? run : Effect.timeout(run, settings.timeoutMillis)
      const context = yield* FiberRef.get(FiberRef.currentContext)
      const span = yield* Effect.makeSpan("JobSupervisor.attempt", {
        root: true,
        links: linksOf(record.traceparent),
        attributes: {
          "job.id": id,
          // what the job runtime hands its clients as client_job_id: one key from the job to every call it made
          "bulwark.client_job_id": id,
          "job.type": type.name,
          "job.queue": type.queue,
          "job.attempt": attempt,
          "job.max_attempts": record.maxAttempts
        },
        // One span per attempt: a stack trace each would cost more than a no-op job.
        captureStackTrace: false
      })
      yield* FiberRef.set(
        FiberRef.currentContext,
        Context.add(Context.add(context, JobType.CurrentJob, current), Tracer.ParentSpan, span)
      )
      const exit = yield* Effect.exit(restore(Effect.exit(timed as Effect.Effect<unknown, unknown>)))
      yield* FiberRef.set(FiberRef.currentContext, context)
      return { exit, span }
    })

  const write = (error: StoredError, outcome: Outcome, now: number) =>
    store.fail(id, token, error, outcome, now).pipe(
      Effect.as(true),
      Effect.catchAll((failure) =>
        Effect.as(Effect.logWarning(`Could not record the failure of job ${id}: ${failure.message}`), false)
      )
    )

  const finish = (error: StoredError, now: number) =>
    Effect.gen(function*() {
      if (!(yield* write(error, { _tag: "Fail" }, now))) return
      span?.event("bulwark.job.failed", yield* Clock.currentTimeNanos, { "error.tag": error.tag })
      yield* Metric.increment(metrics.outcome("failed"))
      yield* Effect.logError(`Job ${id} failed (attempt ${attempt}/${record.maxAttempts}): ${error.message}`)
      yield* PubSub.publish(shared.events, JobEvent.Failed({ id, type: type.name, attempt, error }))
    })

  const settleFailure = (failure: unknown, now: number) =>
    Effect.gen(function*() {
      const error = storedError(type, failure, attempt, now)
      const decision = yield* decide(settings, record, failure, now)
      if (decision.outcome._tag === "Fail") return yield* finish(error, now)
      if (!(yield* write(error, decision.outcome, now))) return
      const delay = Duration.format(Duration.millis(decision.delayMillis))
      const counted = decision.outcome.counted
      span?.event("bulwark.job.requeue", yield* Clock.currentTimeNanos, {
        "error.tag": error.tag,
        reason: decision.reason,
        counted,
        "delay_ms": decision.delayMillis
      })
      yield* Metric.increment(metrics.requeue(decision.reason))
      yield* Metric.increment(metrics.outcome(counted ? "requeued" : "rate-limited"))
      yield* Effect.logWarning(
        counted
          ? `Re-queuing job ${id} (attempt ${attempt}/${record.maxAttempts}) after ${delay}`
          : `Re-queuing job ${id} (rate limited ${
            record.rateLimited + 1
          }/${record.maxRateLimited}, attempt not counted) after ${delay}`
      ).pipe(Effect.annotateLogs({ error: error.tag }))
      yield* PubSub.publish(
        shared.events,
        JobEvent.Requeued({ id, type: type.name, attempt, runAt: decision.outcome.runAt, counted, error })
      )
      yield* shared.wakeIn(type.queue, decision.delayMillis)
    })

  const settleSuccess = (value: unknown, now: number) =>
    Effect.gen(function*() {
      const encoded = yield* Effect.either(Schema.encodeUnknown(type.result)(value))
      if (encoded._tag === "Left") return yield* finish(storedIssue("InvalidResult", encoded.left, attempt, now), now)
      const completed = yield* Effect.either(store.complete(id, token, encoded.right, now))
      if (completed._tag === "Left") {
        return yield* Effect.logWarning(`Result of job ${id} not stored: ${completed.left.message}`)
      }
      yield* Metric.increment(metrics.outcome("succeeded"))
      yield* PubSub.publish(shared.events, JobEvent.Succeeded({ id, type: type.name, attempt }))
    })

  /** The handler ended for a long `Workflow.sleep`: the job is due again when it wakes. */
  const suspended = (wakeAt: number, now: number) =>
    Effect.gen(function*() {
      const released = yield* Effect.either(store.release(id, token, now, wakeAt))
      if (released._tag === "Left") {
        return yield* Effect.logWarning(`Job ${id} could not be set aside for its sleep: ${released.left.message}`)
      }
      yield* Metric.increment(metrics.outcome("suspended"))
      yield* Effect.logDebug(
        `Job ${id} sleeps for ${
          Duration.format(Duration.millis(wakeAt - now))
        }: slot freed, attempt ${attempt} not counted`
      )
      yield* PubSub.publish(shared.events, JobEvent.Released({ id, type: type.name }))
      yield* shared.wakeIn(type.queue, wakeAt - now)
    })

  const interrupted = (now: number) =>
    Effect.gen(function*() {
      // Cancelled through this supervisor: the store has it `cancelled` already.
      if (shared.cancelled.has(id)) return yield* Metric.increment(metrics.outcome("cancelled"))
      if (shared.lost.has(id)) {
        yield* Metric.increment(metrics.outcome("lease-lost"))
        return yield* Effect.logWarning(`Lease of job ${id} lost (cancelled or expired): attempt abandoned`)
      }
      const released = yield* Effect.either(store.release(id, token, now))
      if (released._tag === "Left") return
      yield* Metric.increment(metrics.outcome("released"))
      yield* Effect.logInfo(`Released job ${id} (attempt ${attempt} not counted)`)
      yield* PubSub.publish(shared.events, JobEvent.Released({ id, type: type.name }))
    })

  return Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      // The attempt's fiber is its own: annotated once and for good (no acquire/release).
      yield* FiberRef.update(
        FiberRef.currentLogAnnotations,
        (annotations) =>
          HashMap.set(HashMap.set(HashMap.set(annotations, "job", id), "jobType", type.name), "attempt", attempt)
      )
      const startedAt = yield* Clock.currentTimeMillis
      yield* Metric.increment(metrics.attempts)
      yield* Metric.update(metrics.lag, Math.max(0, startedAt - record.runAt) / 1000)
      yield* PubSub.publish(shared.events, JobEvent.Started({ id, type: type.name, attempt }))
      const payload = yield* Effect.either(Schema.decodeUnknown(type.payload)(record.payload))
      if (payload._tag === "Left") {
        return yield* finish(storedIssue("InvalidPayload", payload.left, attempt, startedAt), startedAt)
      }
      const ran = yield* runHandler(payload.right, restore)
      span = ran.span
      const exit = ran.exit
      if (Exit.isSuccess(exit)) handlerExit = exit.value
      else handlerExit = exit
      const now = yield* Clock.currentTimeMillis
      yield* Metric.update(metrics.duration, (now - startedAt) / 1000)
      if (Exit.isFailure(exit)) return yield* interrupted(now)
      const result = exit.value
      if (Exit.isSuccess(result)) return yield* settleSuccess(result.value, now)
      if (suspendUntil !== undefined && Cause.isInterruptedOnly(result.cause)) {
        return yield* suspended(suspendUntil, now)
      }
      const failure = Cause.failureOption(result.cause)
      return yield* failure._tag === "Some"
        ? settleFailure(failure.value, now)
        : finish(storedCause(result.cause, attempt, now), now)
    }).pipe(
      Effect.ensuring(
        Effect.suspend(() =>
          span === undefined ? Effect.void : Effect.map(Clock.currentTimeNanos, (at) => span!.end(at, handlerExit))
        )
      )
    )
  )
}
