/**
 * Durable workflow steps: a job handler written as named steps whose results
 * are stored with the job, so an attempt that runs again (re-queued after a
 * failure, or claimed again after a crash) resumes after its last completed
 * step instead of redoing it.
 *
 * ```ts
 * handler: ({ prompt }) =>
 *   Effect.gen(function*() {
 *     const first = yield* Workflow.step("generate", Piece, generate(prompt))
 *     const second = yield* Workflow.step("continue", Piece, extend(first))
 *     yield* Workflow.sleep("cool-down", "10 minutes")
 *     return yield* Workflow.step("bridge", Piece, bridge(first, second))
 *   })
 * ```
 *
 * A step's result is encoded by its Schema and saved under the attempt's
 * lease (`JobStore.saveStep`): a worker that lost its lease cannot save. A
 * step's Effect is an ordinary Effect — retry it, time it out, as anywhere.
 * Steps run at most once per attempt and at least once per job
 * (at-least-once, like the job itself): a step whose effect finished but
 * whose save did not (the worker died in between) runs again.
 *
 * @since 0.1.0
 */
import { InvalidPolicy } from "@bulwark/core/Errors"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { claimName, wakeAt as WakeAt } from "./internal/workflow.js"
import type { LeaseLost, StoreFailure } from "./JobErrors.js"
import * as JobType from "./JobType.js"

/**
 * A step name was used twice in one run of a workflow: names are the keys
 * the results are stored under, so each must be unique.
 *
 * @since 0.1.0
 * @category Errors
 */
export class DuplicateStep extends Schema.TaggedError<DuplicateStep>()("DuplicateStep", {
  job: Schema.String,
  step: Schema.String
}) {
  override get message() {
    return `workflow step "${this.step}" of job ${this.job} ran twice in one run: step names must be unique`
  }
}

/**
 * A stored step result no longer decodes with the step's Schema (the Schema
 * changed since it was stored, or the store holds something else).
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidStoredStep extends Schema.TaggedError<InvalidStoredStep>()("InvalidStoredStep", {
  job: Schema.String,
  step: Schema.String,
  issue: Schema.String
}) {
  override get message() {
    return `stored result of workflow step "${this.step}" of job ${this.job} does not decode: ${this.issue}`
  }
}

/**
 * A step's result does not encode with the step's Schema, so it cannot be stored.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidStepResult extends Schema.TaggedError<InvalidStepResult>()("InvalidStepResult", {
  job: Schema.String,
  step: Schema.String,
  issue: Schema.String
}) {
  override get message() {
    return `result of workflow step "${this.step}" of job ${this.job} does not encode: ${this.issue}`
  }
}

/**
 * Everything a step adds to its Effect's failures: the step's own errors, and
 * the store's refusal to save (`LeaseLost`: the job was cancelled or another
 * worker holds it; `StoreFailure`).
 *
 * @since 0.1.0
 * @category Errors
 */
export type StepError = DuplicateStep | InvalidStoredStep | InvalidStepResult | LeaseLost | StoreFailure

const issueOf = (error: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(error)

/**
 * Runs `effect` as the durable step `name` of the running job: when an
 * earlier attempt completed it, returns the stored result decoded by
 * `schema` (and logs that the step was skipped) without running `effect`;
 * otherwise runs `effect`, stores its result encoded by `schema`, and
 * returns it. Each call is a span `Workflow.step <name>`.
 *
 * @since 0.1.0
 * @category Steps
 */
export const step = <A, I, E, R>(
  name: string,
  schema: Schema.Schema<A, I>,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | StepError, R | JobType.CurrentJob> =>
  Effect.gen(function*() {
    const job = yield* JobType.CurrentJob
    if (!claimName(job, name)) return yield* new DuplicateStep({ job: job.id, step: name })
    if (Object.hasOwn(job.steps, name)) {
      const stored = yield* Schema.decodeUnknown(schema)(job.steps[name]).pipe(
        Effect.mapError((error) => new InvalidStoredStep({ job: job.id, step: name, issue: issueOf(error) }))
      )
      yield* Effect.annotateCurrentSpan("workflow.step.stored", true)
      yield* Effect.logInfo(`Workflow step ${name} of job ${job.id} skipped: completed by an earlier attempt`)
      return stored
    }
    yield* Effect.annotateCurrentSpan("workflow.step.stored", false)
    const value = yield* effect
    const encoded = yield* Schema.encode(schema)(value).pipe(
      Effect.mapError((error) => new InvalidStepResult({ job: job.id, step: name, issue: issueOf(error) }))
    )
    yield* job.saveStep(name, encoded)
    return value
  }).pipe(
    Effect.annotateLogs({ step: name }),
    Effect.withSpan(`Workflow.step ${name}`, { attributes: { "workflow.step": name } })
  )

/**
 * A durable timer, the step `name`: the wake-up time is stored when the
 * sleep starts, so a job that runs again (after a failure in a later step or
 * a restart) sleeps only for what is left, and not at all once it has passed.
 *
 * A sleep with more than the supervisor's `sleepThreshold` left (default
 * 1 second) does not hold a worker slot: the attempt ends, and the job is
 * given back to the store due at its wake-up time, without using an attempt;
 * the next attempt resumes after the sleep. A shorter sleep runs in the
 * attempt's fiber. A bad duration is an `InvalidPolicy` naming it.
 *
 * @since 0.1.0
 * @category Steps
 */
export const sleep = (
  name: string,
  duration: Duration.DurationInput
): Effect.Effect<void, StepError | InvalidPolicy, JobType.CurrentJob> =>
  Effect.gen(function*() {
    const decoded = Duration.decodeUnknown(duration)
    if (decoded._tag === "None" || !Duration.isFinite(decoded.value)) {
      return yield* new InvalidPolicy({
        policy: "workflow sleep",
        field: name,
        value: String(duration),
        expected: "a finite duration, such as \"10 minutes\""
      })
    }
    const millis = Duration.toMillis(decoded.value)
    const job = yield* JobType.CurrentJob
    if (!claimName(job, name)) return yield* new DuplicateStep({ job: job.id, step: name })
    const now = yield* Clock.currentTimeMillis
    let wakeAt: number
    if (Object.hasOwn(job.steps, name)) {
      const stored = yield* Schema.decodeUnknown(WakeAt)(job.steps[name]).pipe(
        Effect.mapError((error) => new InvalidStoredStep({ job: job.id, step: name, issue: issueOf(error) }))
      )
      wakeAt = stored.wakeAt
      const left = Math.max(0, wakeAt - now)
      yield* Effect.logInfo(
        `Workflow sleep ${name} of job ${job.id} resumed: ${Duration.format(Duration.millis(left))} left`
      )
    } else {
      wakeAt = now + millis
      yield* job.saveStep(name, { wakeAt })
    }
    yield* Effect.annotateCurrentSpan({ "workflow.sleep.wake_at": wakeAt, "workflow.sleep.millis": millis })
    if (wakeAt <= now) return
    if (job.sleepUntil !== undefined) yield* job.sleepUntil(wakeAt)
    else yield* Effect.sleep(wakeAt - now)
  }).pipe(
    Effect.annotateLogs({ step: name }),
    Effect.withSpan(`Workflow.step ${name}`, { attributes: { "workflow.step": name, "workflow.sleep": true } })
  )
