/**
 * An adaptive concurrency limiter: a bulkhead whose limit moves with what the
 * service says. The limit shrinks multiplicatively when a call fails with an
 * overload signal (429, 503, a timeout: see {@link isOverload}) and grows
 * additively when calls succeed, always within `[minLimit, maxLimit]`: TCP's
 * AIMD, as Netflix's concurrency-limits applies it to RPC. A `gradient` mode
 * (after Netflix's Gradient2) also shrinks the limit when latency rises above
 * its long-term average, before the service starts refusing work.
 *
 * Calls over the current limit wait in a FIFO queue (bounded by `maxQueue`),
 * and are admitted as the limit allows; overflow fails with
 * {@link LimitExceeded}.
 *
 * Two refinements over the textbook loop:
 * - The limit grows only while the limiter is at least half used, so a quiet
 *   period cannot inflate it to `maxLimit` and leave no protection when load returns.
 * - One congestion event shrinks the limit once: calls that were already in
 *   flight when the limit last shrank report the same overload, and are not
 *   counted again (TCP reduces its window once per round trip for the same reason).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import * as Classify from "./Classify.js"
import type { InvalidPolicy } from "./Errors.js"
import type { Queueing } from "./internal/permits.js"
import { Permits, queueOptions, withPermit } from "./internal/permits.js"
import { checker } from "./internal/validate.js"
import * as Metrics from "./Metrics.js"

/**
 * Every slot under the current limit is taken and the queue is full.
 *
 * @since 0.1.0
 * @category Errors
 */
export class LimitExceeded extends Schema.TaggedError<LimitExceeded>()("LimitExceeded", {
  service: Schema.String,
  /** The limit when the call was refused. */
  limit: Schema.Number,
  maxQueue: Schema.Number
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `concurrency limit for ${this.service} exceeded: ${this.limit} running, ${this.maxQueue} queued`
  }
}

/**
 * The call waited `waited` in the limiter's queue without being admitted.
 *
 * @since 0.1.0
 * @category Errors
 */
export class LimitQueueTimeout extends Schema.TaggedError<LimitQueueTimeout>()("LimitQueueTimeout", {
  service: Schema.String,
  waited: Schema.DurationFromMillis
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `not admitted by the concurrency limiter for ${this.service} after waiting ${Duration.format(this.waited)}`
  }
}

/**
 * Why an adaptive limiter refused a call.
 *
 * @since 0.1.0
 * @category Errors
 */
export type Rejection = LimitExceeded | LimitQueueTimeout

/**
 * `aimd`: shrink on overload, grow on success. `gradient`: AIMD's shrink on
 * overload, plus a limit that follows the ratio of long-term to recent latency.
 *
 * @since 0.1.0
 * @category Models
 */
export type Algorithm = "aimd" | "gradient"

/**
 * The failures that mean "the service is overloaded": `RateLimited` (429),
 * `Overloaded` and `Unavailable` (503), and the timeouts (`TimedOut`,
 * `AttemptTimedOut`, Effect's `TimeoutException`). Other failures (a 404, a
 * bad request) leave the limit alone, and so do defects and interruptions.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const isOverload: Classify.Predicate = Classify.tagged(
  "RateLimited",
  "Overloaded",
  "Unavailable",
  "TimedOut",
  "AttemptTimedOut",
  "TimeoutException"
)

/**
 * Every option, with its default.
 *
 * @since 0.1.0
 * @category Options
 */
export interface Options<in E = unknown> {
  /** Names the limiter in errors and metrics. Default `"adaptive-limiter"`. */
  readonly service?: string | undefined
  /** Default `"aimd"`. */
  readonly algorithm?: Algorithm | undefined
  /** The limit to start from, in `[minLimit, maxLimit]`. Default 10, clamped into the range. */
  readonly initialLimit?: number | undefined
  /** The floor of the limit; an integer ≥ 1. Default 1. */
  readonly minLimit?: number | undefined
  /** The ceiling of the limit; an integer ≥ `minLimit`. Default 200. */
  readonly maxLimit?: number | undefined
  /** On overload the limit becomes `limit × backoffRatio` (and drops by at least 1); in (0, 1). Default 0.9. */
  readonly backoffRatio?: number | undefined
  /** `aimd`: added to the limit per success; > 0. Default 1. */
  readonly increment?: number | undefined
  /** `gradient`: weight of each new estimate, in (0, 1]. Default 0.2. */
  readonly smoothing?: number | undefined
  /** `gradient`: samples in the long-term latency average; an integer ≥ 1. Default 600. */
  readonly longWindow?: number | undefined
  /** `gradient`: headroom added to each estimate, so the limit can probe upwards; ≥ 0. Default 4. */
  readonly queueSize?: number | undefined
  /** Calls allowed to wait for admission; an integer ≥ 0 or Infinity. Default 100. */
  readonly maxQueue?: number | undefined
  /** How long a queued call waits before failing with {@link LimitQueueTimeout}. Default: as long as it takes. */
  readonly queueTimeout?: Duration.DurationInput | undefined
  /** Which failures shrink the limit. Default {@link isOverload}. */
  readonly isOverload?: ((error: E) => boolean) | undefined
}

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  service: "adaptive-limiter",
  algorithm: "aimd",
  initialLimit: 10,
  minLimit: 1,
  maxLimit: 200,
  backoffRatio: 0.9,
  increment: 1,
  smoothing: 0.2,
  longWindow: 600,
  queueSize: 4,
  maxQueue: 100
} as const

/**
 * A limiter's state at one instant.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Stats {
  /** The current limit: calls admitted at once. */
  readonly limit: number
  /** Calls running. */
  readonly inflight: number
  /** Calls waiting for admission. */
  readonly queued: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface AdaptiveLimiter<in E = unknown> {
  readonly service: string
  readonly algorithm: Algorithm
  readonly minLimit: number
  readonly maxLimit: number
  /**
   * Runs `self` once admitted and learns from its outcome, or refuses it.
   * Under a `Timeout.total`, a queue wait is cut at its deadline with that timeout's `DeadlineExceeded`
   * (in the total's type, not this one's).
   */
  readonly protect: <A, E1 extends E, R>(self: Effect.Effect<A, E1, R>) => Effect.Effect<A, E1 | Rejection, R>
  readonly stats: Effect.Effect<Stats>
}

const check = checker("adaptive-limiter")

const ratio = (field: string, value: unknown, upper: "open" | "closed"): Either.Either<number, InvalidPolicy> =>
  typeof value === "number" && value > 0 && (upper === "open" ? value < 1 : value <= 1)
    ? Either.right(value)
    : check.refuse(field, value, upper === "open" ? "a number in (0, 1)" : "a number in (0, 1]")

const validate = <E>(options: Options<E>) =>
  Either.gen(function*() {
    const service = yield* check.service("service", options.service ?? defaults.service)
    const algorithm = yield* check.oneOf("algorithm", options.algorithm ?? defaults.algorithm, ["aimd", "gradient"])
    const minLimit = yield* check.number("minLimit", options.minLimit ?? defaults.minLimit, { min: 1, integer: true })
    const maxLimit = yield* check.number("maxLimit", options.maxLimit ?? defaults.maxLimit, { min: 1, integer: true })
    if (maxLimit < minLimit) {
      return yield* check.refuse("maxLimit", maxLimit, `an integer ≥ minLimit (${minLimit})`)
    }
    const initialLimit = options.initialLimit === undefined
      ? Math.min(maxLimit, Math.max(minLimit, defaults.initialLimit))
      : yield* check.number("initialLimit", options.initialLimit, { min: minLimit, integer: true })
    if (initialLimit > maxLimit) {
      return yield* check.refuse("initialLimit", initialLimit, `an integer in [${minLimit}, ${maxLimit}]`)
    }
    const backoffRatio = yield* ratio("backoffRatio", options.backoffRatio ?? defaults.backoffRatio, "open")
    const increment = options.increment ?? defaults.increment
    if (typeof increment !== "number" || !(increment > 0) || !Number.isFinite(increment)) {
      return yield* check.refuse("increment", increment, "a finite number > 0")
    }
    const smoothing = yield* ratio("smoothing", options.smoothing ?? defaults.smoothing, "closed")
    const longWindow = yield* check.number("longWindow", options.longWindow ?? defaults.longWindow, {
      min: 1,
      integer: true
    })
    const queueSize = yield* check.number("queueSize", options.queueSize ?? defaults.queueSize, { min: 0 })
    const { maxQueue, queueTimeoutMillis } = yield* queueOptions(check, {
      maxQueue: options.maxQueue ?? defaults.maxQueue,
      queueTimeout: options.queueTimeout
    })
    const overload = yield* check.predicate("isOverload", options.isOverload ?? (isOverload as (error: E) => boolean))
    return {
      service,
      algorithm,
      minLimit,
      maxLimit,
      initialLimit,
      backoffRatio,
      increment,
      smoothing,
      longWindow,
      queueSize,
      maxQueue,
      queueTimeoutMillis,
      isOverload: overload
    }
  })

type Validated<E> = Either.Either.Right<ReturnType<typeof validate<E>>>

/** Below this many samples, the long-term latency is a plain mean (Netflix's warm-up). */
const warmup = 10

/**
 * The limit's arithmetic, apart from the effects: each method is one
 * synchronous transition.
 */
class Control<E> {
  /** Real-valued: AIMD's increments and the gradient's smoothing accumulate below 1. */
  limit: number
  /** Bumped on each shrink; a call admitted before it cannot shrink the limit again. */
  epoch = 0
  private samples = 0
  private longRtt = 0

  constructor(private readonly options: Validated<E>) {
    this.limit = options.initialLimit
  }

  get admitted(): number {
    return Math.floor(this.limit)
  }

  /** A success, `rtt` milliseconds long, with `inflight` calls running (this one included). */
  succeeded(rtt: number, inflight: number): void {
    const options = this.options
    if (options.algorithm === "aimd") {
      if (inflight * 2 >= this.limit) this.limit = Math.min(options.maxLimit, this.limit + options.increment)
      return
    }
    this.samples++
    this.longRtt = this.samples <= warmup
      ? this.longRtt + (rtt - this.longRtt) / this.samples
      : this.longRtt + (rtt - this.longRtt) * (2 / (options.longWindow + 1))
    // After a long overload the average lags far behind: pull it down faster.
    if (this.longRtt > 2 * rtt) this.longRtt *= 0.9
    if (inflight * 2 < this.limit) return
    // With equal latencies (or a zero-latency TestClock) the gradient is 1: no queueing seen.
    const gradient = rtt <= 0 ? 1 : Math.max(0.5, Math.min(1, this.longRtt / rtt))
    const estimate = this.limit * gradient + options.queueSize
    const next = this.limit * (1 - options.smoothing) + estimate * options.smoothing
    this.limit = Math.max(options.minLimit, Math.min(options.maxLimit, next))
  }

  /** An overload reported by a call admitted during `epoch`. */
  overloaded(epoch: number): void {
    if (epoch !== this.epoch) return
    const options = this.options
    const shrunk = Math.min(this.limit * options.backoffRatio, this.admitted - 1)
    this.limit = Math.max(options.minLimit, shrunk)
    this.epoch++
  }
}

/**
 * Builds an adaptive limiter. Share the instance between every caller of the
 * service it guards.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <E = unknown>(options: Options<E> = {}): Effect.Effect<AdaptiveLimiter<E>, InvalidPolicy> =>
  Effect.flatMap(validate(options), (validated) =>
    Effect.sync(() => {
      const { maxQueue, queueTimeoutMillis, service } = validated
      const control = new Control(validated)
      const limitGauge = Metric.tagged(Metrics.adaptiveLimit, "service", service)
      const inflightGauge = Metric.tagged(Metrics.adaptiveInflight, "service", service)
      // Gauges follow the shared state, not a fiber, so they are set where the state changes.
      const permits = new Permits(control.admitted, (state) => {
        inflightGauge.unsafeUpdate(state.active, [])
        limitGauge.unsafeUpdate(state.limit, [])
      })
      limitGauge.unsafeUpdate(permits.limit, [])
      const queueing: Queueing<Rejection> = {
        maxQueue,
        queueTimeout: queueTimeoutMillis,
        full: () => Effect.fail(new LimitExceeded({ service, limit: permits.limit, maxQueue })),
        timedOut: () =>
          Effect.fail(new LimitQueueTimeout({ service, waited: Duration.millis(queueTimeoutMillis ?? 0) }))
      }

      const learn = (exit: Exit.Exit<unknown, E>, rtt: number, epoch: number): void => {
        if (exit._tag === "Success") {
          control.succeeded(rtt, permits.active)
        } else {
          const failure = Cause.failureOption(exit.cause)
          if (failure._tag === "Some" && validated.isOverload(failure.value)) control.overloaded(epoch)
        }
        if (control.admitted !== permits.limit) permits.limit = control.admitted
        permits.release()
      }

      const protect = <A, E1 extends E, R>(self: Effect.Effect<A, E1, R>): Effect.Effect<A, E1 | Rejection, R> =>
        withPermit(permits, queueing, (restore) =>
          Effect.clockWith((clock) => {
            const start = clock.unsafeCurrentTimeMillis()
            const epoch = control.epoch
            return Effect.onExit(
              restore(self),
              (exit) => Effect.sync(() => learn(exit, clock.unsafeCurrentTimeMillis() - start, epoch))
            )
          }))

      return {
        service,
        algorithm: validated.algorithm,
        minLimit: validated.minLimit,
        maxLimit: validated.maxLimit,
        protect,
        stats: Effect.sync(() => ({ limit: permits.limit, inflight: permits.active, queued: permits.queued }))
      }
    }))
