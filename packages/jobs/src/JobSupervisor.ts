/**
 * The job supervisor: submits jobs to a {@link JobStore}, claims due jobs,
 * runs each in its own fiber (one `FiberMap` per supervisor, a concurrency
 * limit per queue), keeps their leases alive, and settles every attempt:
 *
 * - success stores the result, encoded by the type's result Schema;
 * - a failure with a Retry-After hint (`RateLimited`, `CircuitOpen`, any
 *   `retryAfter` field) re-queues after that delay without using an attempt,
 *   at most `maxRateLimited` times; past that it counts like any other;
 * - a retryable failure (`Classify.isTransient`, or the type's `retryOn`)
 *   re-queues after the type's backoff while attempts are left;
 * - anything else, and a defect, ends the job `failed` at once.
 *
 * Shutting down (closing the layer's scope) stops claiming, lets running jobs
 * finish within `shutdownGrace`, then interrupts them and releases their
 * claims, so the next supervisor on the store runs them again.
 *
 * Spans: `JobSupervisor.submit`, and `JobSupervisor.attempt` for each attempt,
 * a root span linked to the submit span. The submit span's W3C `traceparent`
 * is stored with the job, so the link holds in whichever process runs the
 * attempt, and after a restart.
 *
 * @since 0.1.0
 */
import type { InvalidPolicy } from "@bulwark/core/Errors"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { make as internalMake } from "./internal/supervisor.js"
import type { DedupeMode, JobFilter, JobId, JobRecord, Page, PageRequest, StoredError } from "./Job.js"
import type { Counts, DuplicateJob, JobNotFound, JobNotRetryable, JobStore, StoreFailure } from "./JobStore.js"
import type * as JobType from "./JobType.js"

/**
 * The payload does not satisfy the job type's Schema: nothing was stored.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidPayload extends Schema.TaggedError<InvalidPayload>()("InvalidPayload", {
  type: Schema.String,
  issue: Schema.String
}) {
  override get message() {
    return `invalid payload for job type ${this.type}: ${this.issue}`
  }
}

/**
 * The job ended `failed` with an error the type's error Schema does not
 * describe (no Schema, a defect, an expired lease, an undecodable payload).
 *
 * @since 0.1.0
 * @category Errors
 */
export class JobFailed extends Schema.TaggedError<JobFailed>()("JobFailed", {
  id: Schema.String,
  type: Schema.String,
  attempts: Schema.Number,
  lastError: Schema.optional(Schema.Struct({ tag: Schema.String, message: Schema.String }))
}) {
  override get message() {
    const last = this.lastError === undefined ? "" : `: ${this.lastError.tag}: ${this.lastError.message}`
    return `job ${this.id} (${this.type}) failed after ${this.attempts} attempt${this.attempts === 1 ? "" : "s"}${last}`
  }
}

/**
 * @since 0.1.0
 * @category Errors
 */
export class JobCancelled extends Schema.TaggedError<JobCancelled>()("JobCancelled", {
  id: Schema.String,
  type: Schema.String
}) {
  override get message() {
    return `job ${this.id} (${this.type}) was cancelled`
  }
}

/**
 * `wait` gave up before the job was final; the job goes on.
 *
 * @since 0.1.0
 * @category Errors
 */
export class WaitTimedOut extends Schema.TaggedError<WaitTimedOut>()("WaitTimedOut", {
  id: Schema.String,
  state: Schema.String,
  timeoutMillis: Schema.Number
}) {
  override get message() {
    return `job ${this.id} still ${this.state} after waiting ${this.timeoutMillis} ms`
  }
}

/**
 * The job exists but is of another type than the one given to decode it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class JobTypeMismatch extends Schema.TaggedError<JobTypeMismatch>()("JobTypeMismatch", {
  id: Schema.String,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message() {
    return `job ${this.id} is of type ${this.actual}, not ${this.expected}`
  }
}

/**
 * What happened to a job, as this supervisor saw it. For other processes'
 * changes, use `poll`.
 *
 * @since 0.1.0
 * @category Models
 */
export type JobEvent = Data.TaggedEnum<{
  Submitted: { readonly id: JobId; readonly type: string; readonly runAt: number }
  Started: { readonly id: JobId; readonly type: string; readonly attempt: number }
  Progress: { readonly id: JobId; readonly type: string; readonly progress: unknown }
  Requeued: {
    readonly id: JobId
    readonly type: string
    readonly attempt: number
    readonly runAt: number
    /** False for a Retry-After re-queue, which did not use an attempt. */
    readonly counted: boolean
    readonly error: StoredError
  }
  Succeeded: { readonly id: JobId; readonly type: string; readonly attempt: number }
  Failed: { readonly id: JobId; readonly type: string; readonly attempt: number; readonly error: StoredError }
  Cancelled: { readonly id: JobId; readonly type: string }
  Released: { readonly id: JobId; readonly type: string }
}>

/**
 * @since 0.1.0
 * @category Models
 */
export const JobEvent = Data.taggedEnum<JobEvent>()

/**
 * @since 0.1.0
 * @category Options
 */
export interface SubmitOptions {
  /** Run no earlier than this from now. */
  readonly delay?: Duration.DurationInput | undefined
  /** Run no earlier than this time (epoch ms of Effect's Clock); wins over `delay`. */
  readonly runAt?: number | undefined
  /** Lower runs first. Default 0. */
  readonly priority?: number | undefined
  /** Overrides the type's `maxAttempts` for this job. */
  readonly maxAttempts?: number | undefined
  /** At most one job not final per key (seed 000's `client_job_id`); the mode says what a second submit does. */
  readonly dedupe?: { readonly key: string; readonly mode: DedupeMode } | undefined
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface WaitOptions {
  /** Default: wait as long as it takes. */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface PollResult {
  readonly jobs: ReadonlyArray<JobRecord>
  /** Pass to the next `poll`. */
  readonly cursor: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** This supervisor's lease owner name. */
  readonly owner: string
  /**
   * Validates and stores a job; `InvalidPolicy` names a bad option (or an
   * invalid type). Returns the id at once (the existing job's with dedupe mode `existing`).
   */
  readonly submit: <P, A, E, R>(
    type: JobType.JobType<string, P, A, E, R>,
    payload: P,
    options?: SubmitOptions
  ) => Effect.Effect<JobId, InvalidPayload | InvalidPolicy | DuplicateJob | StoreFailure>
  /** `submit` from the payload's encoded form (JSON from a tool call, say). */
  readonly submitEncoded: <P, A, E, R>(
    type: JobType.JobType<string, P, A, E, R>,
    payload: unknown,
    options?: SubmitOptions
  ) => Effect.Effect<JobId, InvalidPayload | InvalidPolicy | DuplicateJob | StoreFailure>
  readonly status: (id: JobId) => Effect.Effect<JobRecord, JobNotFound | StoreFailure>
  /**
   * Waits until the job is final: its decoded result, or its failure decoded
   * by the type's error Schema (else `JobFailed`), or `JobCancelled`.
   */
  readonly wait: <P, A, E, R>(
    type: JobType.JobType<string, P, A, E, R>,
    id: JobId,
    options?: WaitOptions
  ) => Effect.Effect<
    A,
    E | JobFailed | JobCancelled | WaitTimedOut | JobTypeMismatch | JobNotFound | StoreFailure
  >
  readonly list: (filter?: JobFilter, page?: PageRequest) => Effect.Effect<Page, StoreFailure>
  /** Jobs changed after `cursor` (0 for all), each once as it is now. */
  readonly poll: (cursor: number, limit?: number) => Effect.Effect<PollResult, StoreFailure>
  /** Cancels a job that is not final; a running one's fiber here is interrupted. */
  readonly cancel: (id: JobId) => Effect.Effect<JobRecord, JobNotFound | StoreFailure>
  /**
   * Runs a `failed` or `cancelled` job again: queued now, attempts reset,
   * errors and completed workflow steps kept. Any other state is
   * `JobNotRetryable` naming it; a dedupe key another job took meanwhile is
   * `DuplicateJob`. Watchers see a `Submitted` event.
   */
  readonly retry: (id: JobId) => Effect.Effect<JobRecord, JobNotFound | JobNotRetryable | DuplicateJob | StoreFailure>
  /** Jobs in the store per state, every state present. */
  readonly counts: Effect.Effect<Counts, StoreFailure>
  /** Events from now on. */
  readonly events: Stream.Stream<JobEvent>
  /** Subscribes now, so no event after this effect is missed; the stream ends with the scope. */
  readonly subscribe: Effect.Effect<Stream.Stream<JobEvent>, never, Scope.Scope>
  /** Claims once now, besides the loop's wakeups (tests, benchmarks). */
  readonly tick: Effect.Effect<void, StoreFailure>
  /** Jobs running in this supervisor. */
  readonly running: Effect.Effect<ReadonlyArray<JobId>>
}

/**
 * @since 0.1.0
 * @category Tags
 */
export class JobSupervisor extends Context.Tag("@bulwark/jobs/JobSupervisor")<JobSupervisor, Service>() {}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options<Types extends ReadonlyArray<JobType.Any>> {
  /** The types this supervisor runs. It can submit and wait on any type. */
  readonly types: Types
  /** Per-queue limits, over the largest `concurrency` of the queue's types. */
  readonly concurrency?: Readonly<Record<string, number>> | undefined
  /** How often to look for due jobs besides the store's wakeups. Default 1 second. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Lease length; renewed every third of it while a job runs. Default 30 seconds. */
  readonly leaseDuration?: Duration.DurationInput | undefined
  /** How long running jobs may finish on shutdown before being interrupted and released. Default 10 seconds. */
  readonly shutdownGrace?: Duration.DurationInput | undefined
  /** Pruning of final jobs; `false` keeps them all. Default: older than 1 day, every minute. */
  readonly retention?:
    | false
    | {
      readonly maxAge?: Duration.DurationInput | undefined
      readonly keep?: number | undefined
      readonly interval?: Duration.DurationInput | undefined
    }
    | undefined
  /** How often to set the jobs-by-state gauge from the store's `counts`; `false` never. Default 1 second. */
  readonly metricsInterval?: false | Duration.DurationInput | undefined
  /**
   * A `Workflow.sleep` with more than this left ends its attempt and frees
   * the slot: the job is given back due at its wake-up time (the attempt not
   * counted). Shorter sleeps run in the attempt's fiber. Default 1 second.
   */
  readonly sleepThreshold?: Duration.DurationInput | undefined
  /** Lease owner name. Default: `supervisor-` and 32 random hex characters. */
  readonly owner?: string | undefined
}

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  pollInterval: "1 second",
  leaseDuration: "30 seconds",
  shutdownGrace: "10 seconds",
  retentionMaxAge: "1 day",
  retentionInterval: "1 minute",
  metricsInterval: "1 second",
  /** No longer used: the gauge is set from the store's `counts`, which has no cap. */
  metricsSampleCap: 10_000,
  sleepThreshold: "1 second"
} as const

/**
 * Starts a supervisor in the current scope: it claims until the scope closes,
 * then shuts down gracefully.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <const Types extends ReadonlyArray<JobType.Any>>(
  options: Options<Types>
): Effect.Effect<Service, InvalidPolicy, JobStore | Scope.Scope | JobType.Context<Types[number]>> =>
  // The handlers' contexts are erased inside (every type is a `JobType.Any`); their union is put back here.
  internalMake(options) as Effect.Effect<
    Service,
    InvalidPolicy,
    JobStore | Scope.Scope | JobType.Context<Types[number]>
  >

/**
 * @since 0.1.0
 * @category Layers
 */
export const layer = <const Types extends ReadonlyArray<JobType.Any>>(
  options: Options<Types>
): Layer.Layer<JobSupervisor, InvalidPolicy, JobStore | JobType.Context<Types[number]>> =>
  Layer.scoped(JobSupervisor, make(options))
