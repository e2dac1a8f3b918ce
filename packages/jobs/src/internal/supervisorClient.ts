/**
 * The supervisor's operations for callers: submit, status, wait, list, poll,
 * cancel, retry, counts and events.
 *
 * @internal
 */
import { InvalidPolicy } from "@bulwark/core/Errors"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { JobId, JobRecord } from "../Job.js"
import { finalStates, JobId as JobIdSchema } from "../Job.js"
import { StoreFailure } from "../JobStore.js"
import type * as JobSupervisor from "../JobSupervisor.js"
import { InvalidPayload, JobCancelled, JobEvent, JobFailed, JobTypeMismatch, WaitTimedOut } from "../JobSupervisor.js"
import type * as JobType from "../JobType.js"
import type { Shared } from "./supervisor.js"
import { randomHex } from "./supervisorOutcome.js"
import { traceparentOf } from "./traceContext.js"

const refuse = (field: string, value: unknown, expected: string) =>
  new InvalidPolicy({ policy: "submit", field, value: String(value), expected })

/** @internal */
export const client = (
  shared: Shared,
  internals: {
    readonly tick: Effect.Effect<void, StoreFailure>
  }
): JobSupervisor.Service => {
  const { events, store } = shared

  const enqueue = (
    type: JobType.Any,
    encoded: unknown,
    options: JobSupervisor.SubmitOptions
  ) =>
    Effect.gen(function*() {
      const settings = yield* type.settings
      const now = yield* Clock.currentTimeMillis
      const priority = options.priority ?? 0
      if (!Number.isFinite(priority)) return yield* refuse("priority", priority, "a finite number")
      const maxAttempts = options.maxAttempts ?? settings.maxAttempts
      if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1)) {
        return yield* refuse("maxAttempts", maxAttempts, "an integer ≥ 1")
      }
      let runAt = now
      if (options.runAt !== undefined) {
        if (!Number.isFinite(options.runAt)) return yield* refuse("runAt", options.runAt, "epoch milliseconds")
        runAt = options.runAt
      } else if (options.delay !== undefined) {
        const delay = Duration.decodeUnknown(options.delay)
        if (delay._tag === "None" || !Duration.isFinite(delay.value)) {
          return yield* refuse("delay", options.delay, "a finite duration")
        }
        runAt = now + Duration.toMillis(delay.value)
      }
      if (options.dedupe !== undefined && options.dedupe.key.length === 0) {
        return yield* refuse("dedupe.key", "\"\"", "a non-empty string")
      }
      const id = JobIdSchema.make(yield* randomHex)
      // The submit span's context, stored so that every attempt's span links to it, in any process.
      const span = yield* Effect.option(Effect.currentSpan)
      const traceparent = Option.isSome(span) ? traceparentOf(span.value) : undefined
      const { created, job } = yield* store.enqueue({
        id,
        type: type.name,
        queue: type.queue,
        payload: encoded,
        priority,
        maxAttempts,
        maxRateLimited: settings.maxRateLimited,
        runAt,
        dedupeKey: options.dedupe?.key,
        traceparent
      }, { now, dedupe: options.dedupe?.mode })
      yield* Effect.annotateCurrentSpan({ "job.id": job.id, "job.created": created })
      if (!created) return job.id
      yield* PubSub.publish(events, JobEvent.Submitted({ id: job.id, type: type.name, runAt }))
      if (runAt > now) yield* shared.wakeIn(type.queue, runAt - now)
      return job.id
    }).pipe(
      Effect.withSpan("JobSupervisor.submit", {
        attributes: { "job.type": type.name, "job.queue": type.queue },
        // Once per job: a stack trace would cost more than the rest of the span.
        captureStackTrace: false
      })
    )

  const invalid = (type: JobType.Any) => (error: ParseResult.ParseError) =>
    new InvalidPayload({ type: type.name, issue: ParseResult.TreeFormatter.formatErrorSync(error) })

  const submit = (type: JobType.Any, payload: unknown, options: JobSupervisor.SubmitOptions = {}) =>
    Schema.encodeUnknown(type.payload)(payload).pipe(
      Effect.mapError(invalid(type)),
      Effect.flatMap((encoded) => enqueue(type, encoded, options))
    )

  const submitEncoded = (type: JobType.Any, payload: unknown, options: JobSupervisor.SubmitOptions = {}) =>
    Schema.decodeUnknown(type.payload)(payload).pipe(
      Effect.flatMap(Schema.encode(type.payload)),
      Effect.mapError(invalid(type)),
      Effect.flatMap((encoded) => enqueue(type, encoded, options))
    )

  const outcome = (type: JobType.Any, record: JobRecord): Effect.Effect<unknown, unknown> => {
    switch (record.state) {
      case "succeeded":
        return Schema.decodeUnknown(type.result)(record.result).pipe(
          Effect.mapError((error) =>
            new StoreFailure({
              operation: "decode result",
              reason: ParseResult.TreeFormatter.formatErrorSync(error)
            })
          )
        )
      case "cancelled":
        return new JobCancelled({ id: record.id, type: record.type })
      default: {
        const last = record.errors.at(-1)
        const decoded = type.error !== undefined && last?.encoded !== undefined
          ? Schema.decodeUnknownOption(type.error)(last.encoded)
          : Option.none()
        return Option.isSome(decoded) ? Effect.fail(decoded.value) : new JobFailed({
          id: record.id,
          type: record.type,
          attempts: record.attempts,
          lastError: last === undefined ? undefined : { tag: last.tag, message: last.message }
        })
      }
    }
  }

  const wait = (type: JobType.Any, id: JobId, options: JobSupervisor.WaitOptions = {}) =>
    Effect.scoped(Effect.gen(function*() {
      const subscription = yield* PubSub.subscribe(events)
      let state: string = "queued"
      const next = Queue.take(subscription).pipe(Effect.repeat({ until: (event) => event.id === id }))
      const untilFinal = Effect.gen(function*() {
        while (true) {
          const record = yield* store.get(id)
          if (record.type !== type.name) {
            return yield* new JobTypeMismatch({ id, expected: type.name, actual: record.type })
          }
          state = record.state
          if (finalStates.has(record.state)) return record
          // Events cover this process; the poll interval covers the others.
          yield* Effect.raceFirst(next, Effect.sleep(shared.pollMillis))
        }
      })
      if (options.timeout === undefined) return yield* outcome(type, yield* untilFinal)
      const timeoutMillis = Duration.toMillis(options.timeout)
      const record = yield* untilFinal.pipe(
        Effect.timeoutFail({
          duration: timeoutMillis,
          onTimeout: () => new WaitTimedOut({ id, state, timeoutMillis })
        })
      )
      return yield* outcome(type, record)
    })).pipe(
      Effect.withSpan("JobSupervisor.wait", {
        attributes: { "job.id": id, "job.type": type.name },
        captureStackTrace: false
      })
    )

  const cancel = (id: JobId) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const record = yield* store.cancel(id, now)
      if (record.state !== "cancelled") return record
      if (shared.running.has(id)) {
        shared.cancelled.add(id)
        yield* FiberMap.remove(shared.fibers, id)
      }
      yield* PubSub.publish(events, JobEvent.Cancelled({ id, type: record.type }))
      return record
    }).pipe(Effect.withSpan("JobSupervisor.cancel", { attributes: { "job.id": id } }))

  const retry = (id: JobId) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const record = yield* store.retry(id, now)
      yield* Effect.logInfo(`Retrying job ${id} (${record.type}): queued again, attempts reset`).pipe(
        Effect.annotateLogs({ job: id, jobType: record.type })
      )
      // A retried job is submitted again, as far as watchers are concerned.
      yield* PubSub.publish(events, JobEvent.Submitted({ id, type: record.type, runAt: record.runAt }))
      yield* shared.wakeIn(record.queue, 0)
      return record
    }).pipe(Effect.withSpan("JobSupervisor.retry", { attributes: { "job.id": id } }))

  return {
    owner: shared.owner,
    submit: submit as JobSupervisor.Service["submit"],
    submitEncoded: submitEncoded as JobSupervisor.Service["submitEncoded"],
    status: store.get,
    wait: wait as JobSupervisor.Service["wait"],
    list: (filter = {}, page = {}) => store.list(filter, page),
    poll: (cursor, limit = 100) =>
      Effect.map(store.changes(cursor, limit), ({ jobs, revision }) => ({ jobs, cursor: revision })),
    cancel,
    retry,
    counts: store.counts,
    events: Stream.fromPubSub(events),
    subscribe: Effect.map(PubSub.subscribe(events), Stream.fromQueue),
    tick: internals.tick,
    running: Effect.sync(() => [...shared.running.keys()])
  }
}
