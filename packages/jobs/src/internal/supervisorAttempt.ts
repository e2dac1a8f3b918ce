/**
 * One attempt of one job, in its own fiber: decode the payload, run the
 * handler under a span with the lease kept alive, then settle. The settling
 * runs uninterruptibly, so an interruption (cancel, shutdown) either comes
 * before it — and the claim is released, or left to the cancel — or after it.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import type { JobRecord, StoredError } from "../Job.js"
import * as JobMetrics from "../JobMetrics.js"
import type { Outcome } from "../JobStore.js"
import { JobEvent } from "../JobSupervisor.js"
import * as JobType from "../JobType.js"
import type { Registered, Shared } from "./supervisor.js"
import { decide, storedCause, storedError, storedIssue } from "./supervisorOutcome.js"

const lost = "lost" as const

/** @internal */
export const runAttempt = (shared: Shared, entry: Registered, record: JobRecord, token: string) => {
  const { store } = shared
  const { settings, type } = entry
  const id = record.id
  const attempt = record.attempts
  const byType = <M extends Metric.Metric<any, any, any>>(metric: M): M => Metric.tagged(metric, "type", type.name) as M

  const heartbeat: Effect.Effect<typeof lost> = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(Math.max(1, Math.floor(shared.leaseMillis / 3)))
      const now = yield* Clock.currentTimeMillis
      const result = yield* Effect.either(store.heartbeat(id, token, now + shared.leaseMillis, now))
      if (result._tag === "Left") {
        if (result.left._tag === "LeaseLost") return lost as typeof lost
        yield* Effect.logWarning(`Lease heartbeat of job ${id} failed: ${result.left.message}`)
      }
    }
  })

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
      Effect.flatMap(Clock.currentTimeMillis, (now) => store.saveStep(id, token, name, value, now))
  }

  const handler = (payload: unknown) => {
    const run = type.handler(payload) as Effect.Effect<unknown, unknown, JobType.CurrentJob>
    const timed = settings.timeoutMillis === undefined ? run : Effect.timeout(run, settings.timeoutMillis)
    const link = shared.links.get(id)
    return timed.pipe(
      Effect.provideService(JobType.CurrentJob, current),
      Effect.withSpan("JobSupervisor.attempt", {
        root: true,
        links: link === undefined ? [] : [{ _tag: "SpanLink", span: link, attributes: { "job.link": "submit" } }],
        attributes: {
          "job.id": id,
          "job.type": type.name,
          "job.queue": type.queue,
          "job.attempt": attempt,
          "job.max_attempts": record.maxAttempts
        }
      })
    )
  }

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
      yield* Metric.increment(Metric.tagged(byType(JobMetrics.outcomes), "outcome", "failed"))
      yield* Effect.logError(`Job ${id} failed (attempt ${attempt}/${record.maxAttempts}): ${error.message}`)
      yield* PubSub.publish(shared.events, JobEvent.Failed({ id, type: type.name, attempt, error }))
      shared.links.delete(id)
    })

  const settleFailure = (failure: unknown, now: number) =>
    Effect.gen(function*() {
      const error = storedError(type, failure, attempt, now)
      const decision = yield* decide(settings, record, failure, now)
      if (decision.outcome._tag === "Fail") return yield* finish(error, now)
      if (!(yield* write(error, decision.outcome, now))) return
      const delay = Duration.format(Duration.millis(decision.delayMillis))
      const counted = decision.outcome.counted
      yield* Metric.increment(Metric.tagged(byType(JobMetrics.requeues), "reason", decision.reason))
      yield* Metric.increment(
        Metric.tagged(byType(JobMetrics.outcomes), "outcome", counted ? "requeued" : "rate-limited")
      )
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
      yield* Metric.increment(Metric.tagged(byType(JobMetrics.outcomes), "outcome", "succeeded"))
      yield* PubSub.publish(shared.events, JobEvent.Succeeded({ id, type: type.name, attempt }))
      shared.links.delete(id)
    })

  const interrupted = (now: number) =>
    Effect.gen(function*() {
      // Cancelled through this supervisor: the store has it `cancelled` already.
      if (shared.cancelled.has(id)) {
        return yield* Metric.increment(Metric.tagged(byType(JobMetrics.outcomes), "outcome", "cancelled"))
      }
      const released = yield* Effect.either(store.release(id, token, now))
      if (released._tag === "Left") return
      yield* Metric.increment(Metric.tagged(byType(JobMetrics.outcomes), "outcome", "released"))
      yield* Effect.logInfo(`Released job ${id} (attempt ${attempt} not counted)`)
      yield* PubSub.publish(shared.events, JobEvent.Released({ id, type: type.name }))
    })

  return Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const startedAt = yield* Clock.currentTimeMillis
      yield* Metric.increment(byType(JobMetrics.attempts))
      yield* Metric.update(byType(JobMetrics.lagSeconds), Math.max(0, startedAt - record.runAt) / 1000)
      yield* PubSub.publish(shared.events, JobEvent.Started({ id, type: type.name, attempt }))
      const payload = yield* Effect.either(Schema.decodeUnknown(type.payload)(record.payload))
      if (payload._tag === "Left") {
        return yield* finish(storedIssue("InvalidPayload", payload.left, attempt, startedAt), startedAt)
      }
      const exit = yield* Effect.exit(
        restore(Effect.raceFirst(Effect.exit(handler(payload.right)), heartbeat))
      )
      const now = yield* Clock.currentTimeMillis
      yield* Metric.update(byType(JobMetrics.durationSeconds), (now - startedAt) / 1000)
      if (Exit.isFailure(exit)) return yield* interrupted(now)
      const result = exit.value
      if (result === lost) {
        yield* Metric.increment(Metric.tagged(byType(JobMetrics.outcomes), "outcome", "lease-lost"))
        return yield* Effect.logWarning(`Lease of job ${id} lost (cancelled or expired): attempt abandoned`)
      }
      if (Exit.isSuccess(result)) return yield* settleSuccess(result.value, now)
      const failure = Cause.failureOption(result.cause)
      return yield* failure._tag === "Some"
        ? settleFailure(failure.value, now)
        : finish(storedCause(result.cause, attempt, now), now)
    })
  ).pipe(Effect.annotateLogs({ job: id, jobType: type.name, attempt }))
}
