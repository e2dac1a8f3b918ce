/**
 * Declaring a kind of job: its name, the queue it runs in, the Schemas of its
 * payload, result and (optionally) error, the handler that does the work, and
 * the per-type defaults of re-queueing (after seed 001: 5 attempts, 1 s
 * doubling to 60 s, with jitter) and concurrency.
 *
 * ```ts
 * const Render = JobType.make({
 *   name: "render",
 *   payload: Schema.Struct({ prompt: Schema.String }),
 *   result: Schema.Struct({ url: Schema.String }),
 *   handler: ({ prompt }) => render(prompt)
 * })
 * ```
 *
 * A handler reads the job it runs (and reports progress) through
 * {@link CurrentJob}, which the supervisor provides.
 *
 * Options are validated when a supervisor is built with the type (it fails
 * with `InvalidPolicy` naming the option), so types can be declared at the top
 * level of a module.
 *
 * @since 0.1.0
 */
import type * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as Classify from "@bulwark/core/Classify"
import { InvalidPolicy } from "@bulwark/core/Errors"
import * as RetryAfter from "@bulwark/core/RetryAfter"
import * as EffectContext from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Schema from "effect/Schema"
import type { JobId } from "./Job.js"
import type { LeaseLost, StoreFailure } from "./JobErrors.js"

/**
 * @since 0.1.0
 * @category Type IDs
 */
export const TypeId: unique symbol = Symbol.for("@bulwark/jobs/JobType")

/**
 * @since 0.1.0
 * @category Type IDs
 */
export type TypeId = typeof TypeId

/**
 * Jitter of the re-queue delay; `decorrelated` needs the previous delay, which
 * a store does not keep, so it is not offered here.
 *
 * @since 0.1.0
 * @category Models
 */
export type Jitter = "none" | "full" | "equal"

/**
 * Every option, with its default. Re-queueing options have the names of
 * `@bulwark/core/Retry`'s.
 *
 * @since 0.1.0
 * @category Options
 */
export interface Options<Name extends string, P, PI, A, AI, E, EI, R> {
  readonly name: Name
  /** Concurrency and circuit-breaker pauses apply per queue. Default: the name. */
  readonly queue?: string | undefined
  readonly payload: Schema.Schema<P, PI>
  readonly result: Schema.Schema<A, AI>
  /** Stores failures encoded, so `wait` returns them typed. Default: tag and message only. */
  readonly error?: Schema.Schema<E, EI> | undefined
  readonly handler: (payload: P) => Effect.Effect<A, E, R>
  /** Counted attempts in all, the first included. Default 5. */
  readonly maxAttempts?: number | undefined
  /** Re-queue delay after the first failed attempt. Default 1 second. */
  readonly base?: Duration.DurationInput | undefined
  /** Growth per failed attempt, ≥ 1. Default 2. */
  readonly factor?: number | undefined
  /** Cap on the re-queue delay. Default 60 seconds. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** Default `"equal"`: at least half the backoff, so a re-queue never comes back at once. */
  readonly jitter?: Jitter | undefined
  /** Re-queues after a Retry-After hint that do not use an attempt. Default 20. */
  readonly maxRateLimited?: number | undefined
  /** Which failures are re-queued; others end the job. Default `Classify.isTransient`: retryable, or a client retry that gave up on a retryable failure. */
  readonly retryOn?: ((error: E) => boolean) | undefined
  /** The server's delay hint of a failure. Default `RetryAfter.hint` (a `retryAfter` field). */
  readonly retryAfter?: ((error: E) => Duration.Duration | undefined) | undefined
  /** Jobs of this queue running at once in one supervisor. Default 10. */
  readonly concurrency?: number | undefined
  /** Each attempt fails with `TimeoutException` (retryable) past this. Default: none. */
  readonly timeout?: Duration.DurationInput | undefined
  /** The breaker of the service the jobs depend on: while it is open, the queue is not claimed. */
  readonly breaker?: CircuitBreaker.CircuitBreaker<any> | undefined
}

/**
 * Validated settings of a type.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Settings<E> {
  readonly maxAttempts: number
  readonly baseMillis: number
  readonly factor: number
  readonly maxDelayMillis: number
  readonly jitter: Jitter
  readonly maxRateLimited: number
  readonly retryOn: (error: E) => boolean
  readonly retryAfter: (error: E) => Duration.Duration | undefined
  readonly concurrency: number
  readonly timeoutMillis: number | undefined
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface JobType<out Name extends string, in out P, in out A, out E, out R> {
  readonly [TypeId]: TypeId
  readonly name: Name
  readonly queue: string
  readonly payload: Schema.Schema<P, any>
  readonly result: Schema.Schema<A, any>
  /** Typed loosely: `E` is `never` for a handler that cannot fail, and no Schema is assignable to that. */
  readonly error: Schema.Schema<any, any> | undefined
  readonly handler: (payload: P) => Effect.Effect<A, E, R>
  readonly breaker: CircuitBreaker.CircuitBreaker<any> | undefined
  /** The options, validated; `Left` names the first invalid one (typed loosely, as `error`). */
  readonly settings: Either.Either<Settings<any>, InvalidPolicy>
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Any extends JobType<string, any, any, any, any> {}

/**
 * What a type's handler needs besides {@link CurrentJob}: the supervisor's layer requires it.
 *
 * @since 0.1.0
 * @category Models
 */
export type Context<T> = T extends JobType<any, any, any, any, infer R> ? Exclude<R, CurrentJob> : never

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  maxAttempts: 5,
  base: "1 second",
  factor: 2,
  maxDelay: "60 seconds",
  jitter: "equal",
  maxRateLimited: 20,
  concurrency: 10
} as const

const refuse = (field: string, value: unknown, expected: string) =>
  Either.left(new InvalidPolicy({ policy: "job type", field, value: String(value), expected }))

const millis = (field: string, input: Duration.DurationInput | undefined, fallback: Duration.DurationInput) => {
  const decoded = Duration.decodeUnknown(input ?? fallback)
  return decoded._tag === "Some" && Duration.toMillis(decoded.value) >= 0
    ? Either.right(Duration.toMillis(decoded.value))
    : refuse(field, input, "a duration ≥ 0, such as \"1 second\"")
}

const count = (field: string, value: number, min: number, infinite: boolean) =>
  (Number.isInteger(value) || (infinite && value === Infinity)) && value >= min
    ? Either.right(value)
    : refuse(field, value, `an integer ≥ ${min}${infinite ? " or Infinity" : ""}`)

const validate = <E>(options: Options<string, any, any, any, any, E, any, any>): Either.Either<
  Settings<E>,
  InvalidPolicy
> =>
  Either.gen(function*() {
    if (typeof options.name !== "string" || options.name.length === 0) {
      return yield* refuse("name", options.name, "a non-empty string")
    }
    if (options.queue !== undefined && options.queue.length === 0) {
      return yield* refuse("queue", options.queue, "a non-empty string")
    }
    const maxAttempts = yield* count("maxAttempts", options.maxAttempts ?? defaults.maxAttempts, 1, false)
    const baseMillis = yield* millis("base", options.base, defaults.base)
    const factor = options.factor ?? defaults.factor
    if (!(factor >= 1 && Number.isFinite(factor))) yield* refuse("factor", factor, "a finite number ≥ 1")
    const maxDelayMillis = yield* millis("maxDelay", options.maxDelay, defaults.maxDelay)
    if (maxDelayMillis < baseMillis) yield* refuse("maxDelay", options.maxDelay, `a duration ≥ base (${baseMillis} ms)`)
    const jitter = options.jitter ?? defaults.jitter
    if (!["none", "full", "equal"].includes(jitter)) yield* refuse("jitter", jitter, "\"none\", \"full\" or \"equal\"")
    const maxRateLimited = yield* count("maxRateLimited", options.maxRateLimited ?? defaults.maxRateLimited, 0, true)
    const concurrency = yield* count("concurrency", options.concurrency ?? defaults.concurrency, 1, false)
    const timeoutMillis = options.timeout === undefined ? undefined : yield* millis("timeout", options.timeout, 0)
    return {
      maxAttempts,
      baseMillis,
      factor,
      maxDelayMillis,
      jitter,
      maxRateLimited,
      retryOn: options.retryOn ?? Classify.isTransient,
      retryAfter: options.retryAfter ?? RetryAfter.hint,
      concurrency,
      timeoutMillis
    }
  })

/**
 * Declares a job type. Invalid options are reported when a supervisor is
 * built with it (see {@link JobType.settings}).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <
  const Name extends string,
  P,
  PI,
  A,
  AI,
  E = never,
  EI = never,
  R = never
>(options: Options<Name, P, PI, A, AI, E, EI, R>): JobType<Name, P, A, E, R> => ({
  [TypeId]: TypeId,
  name: options.name,
  queue: options.queue ?? options.name,
  payload: options.payload,
  result: options.result,
  error: options.error,
  handler: options.handler,
  breaker: options.breaker,
  settings: validate(options)
})

/**
 * The raw re-queue delay after counted attempt `attempt` (from 1) failed,
 * before jitter: `min(maxDelay, base × factor^(attempt - 1))`.
 *
 * @since 0.1.0
 * @category Backoff
 */
export const rawDelayMillis = (settings: Settings<unknown>, attempt: number): number =>
  Math.min(settings.maxDelayMillis, settings.baseMillis * settings.factor ** Math.max(0, attempt - 1))

/**
 * The jittered re-queue delay after counted attempt `attempt` failed, with a
 * uniform random number in [0, 1) (from Effect's `Random`).
 *
 * @since 0.1.0
 * @category Backoff
 */
export const delayMillis = (settings: Settings<unknown>, attempt: number, random: number): number => {
  const raw = rawDelayMillis(settings, attempt)
  switch (settings.jitter) {
    case "none":
      return Math.floor(raw)
    case "full":
      return Math.floor(random * raw)
    case "equal":
      return Math.floor(raw / 2 + random * (raw / 2))
  }
}

/**
 * The job a handler runs, provided by the supervisor for each attempt.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Current {
  readonly id: JobId
  readonly type: string
  /** The counted attempt this run is (from 1). */
  readonly attempt: number
  readonly maxAttempts: number
  /** Stores progress (any JSON value) with the job; watchers see it in `status`, `poll` and events. */
  readonly reportProgress: (progress: unknown) => Effect.Effect<void>
  /** Workflow steps completed by earlier attempts, encoded, by name (what `Workflow.step` resumes from). */
  readonly steps: Readonly<Record<string, unknown>>
  /** Stores a workflow step's encoded result with the job, under this attempt's lease. */
  readonly saveStep: (name: string, value: unknown) => Effect.Effect<void, LeaseLost | StoreFailure>
  /**
   * Waits until `wakeAt` (epoch ms of Effect's Clock) for `Workflow.sleep`,
   * whose wake-up time is stored already. The supervisor ends the attempt
   * when more than its `sleepThreshold` is left: the job is given back to the
   * store due at `wakeAt` (the attempt not counted) and its slot is free
   * meanwhile; the next attempt resumes after the sleep. Absent (a `Current`
   * made outside a supervisor), `Workflow.sleep` sleeps in the fiber.
   */
  readonly sleepUntil?: ((wakeAt: number) => Effect.Effect<void>) | undefined
}

/**
 * @since 0.1.0
 * @category Tags
 */
export class CurrentJob extends EffectContext.Tag("@bulwark/jobs/CurrentJob")<CurrentJob, Current>() {}

/**
 * Reports progress from inside a handler. A progress write that the store
 * refuses (the job was cancelled) is dropped: cancellation interrupts the
 * handler anyway.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const reportProgress = (progress: unknown): Effect.Effect<void, never, CurrentJob> =>
  Effect.flatMap(CurrentJob, (job) => job.reportProgress(progress))
