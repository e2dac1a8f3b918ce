/**
 * A bulkhead: at most `maxConcurrent` calls run at once; up to `maxQueue` more
 * wait their turn, first come first served, for at most `queueTimeout`. Anything
 * beyond that fails at once with {@link BulkheadFull}, so an overloaded
 * dependency costs its callers a typed error instead of an unbounded pile of
 * fibers.
 *
 * An interrupted caller always gives its place back: a waiter leaves the
 * queue, a running call releases its permit.
 *
 * ```ts
 * const ollama = yield* Bulkhead.make({ service: "ollama", maxConcurrent: 2, maxQueue: 10 })
 * const result = yield* ollama.protect(generate)
 * ```
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import type { InvalidPolicy } from "./Errors.js"
import type { Queueing } from "./internal/permits.js"
import { Permits, queueOptions, withPermit } from "./internal/permits.js"
import { checker } from "./internal/validate.js"
import * as Metrics from "./Metrics.js"

/**
 * The bulkhead is running `maxConcurrent` calls and its queue is full.
 *
 * @since 0.1.0
 * @category Errors
 */
export class BulkheadFull extends Schema.TaggedError<BulkheadFull>()("BulkheadFull", {
  service: Schema.String,
  maxConcurrent: Schema.Number,
  maxQueue: Schema.Number
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `bulkhead for ${this.service} is full: ${this.maxConcurrent} running, ${this.maxQueue} queued`
  }
}

/**
 * The call waited `waited` in the bulkhead's queue without getting a slot.
 *
 * @since 0.1.0
 * @category Errors
 */
export class BulkheadQueueTimeout extends Schema.TaggedError<BulkheadQueueTimeout>()("BulkheadQueueTimeout", {
  service: Schema.String,
  waited: Schema.DurationFromMillis
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `no bulkhead slot for ${this.service} after waiting ${Duration.format(this.waited)}`
  }
}

/**
 * Why a bulkhead refused a call.
 *
 * @since 0.1.0
 * @category Errors
 */
export type Rejection = BulkheadFull | BulkheadQueueTimeout

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Names the bulkhead in errors and metrics. Default `"bulkhead"`. */
  readonly service?: string | undefined
  /** Calls allowed to run at once; an integer ≥ 1. Required. */
  readonly maxConcurrent: number
  /** Calls allowed to wait for a slot; an integer ≥ 0 or Infinity. Default 0: reject at once when full. */
  readonly maxQueue?: number | undefined
  /** How long a queued call waits before failing with {@link BulkheadQueueTimeout}. Default: as long as it takes. */
  readonly queueTimeout?: Duration.DurationInput | undefined
}

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  service: "bulkhead",
  maxQueue: 0
} as const

/**
 * A bulkhead's state at one instant.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Stats {
  /** Calls running. */
  readonly active: number
  /** Calls waiting for a slot. */
  readonly queued: number
  /** Free slots: `maxConcurrent - active`. */
  readonly available: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Bulkhead {
  readonly service: string
  readonly maxConcurrent: number
  readonly maxQueue: number
  /** In milliseconds; `undefined` when queued calls wait as long as it takes. */
  readonly queueTimeoutMillis: number | undefined
  /**
   * Runs `self` in the bulkhead, or refuses it.
   * Under a `Timeout.total`, a queue wait is cut at its deadline with that timeout's `DeadlineExceeded`
   * (in the total's type, not this one's).
   */
  readonly protect: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Rejection, R>
  readonly stats: Effect.Effect<Stats>
}

const check = checker("bulkhead")

interface Validated {
  readonly service: string
  readonly maxConcurrent: number
  readonly maxQueue: number
  readonly queueTimeoutMillis: number | undefined
}

const validate = (options: Options): Either.Either<Validated, InvalidPolicy> =>
  Either.gen(function*() {
    const service = yield* check.service("service", options.service ?? defaults.service)
    const maxConcurrent = yield* check.number("maxConcurrent", options.maxConcurrent, { min: 1, integer: true })
    const { maxQueue, queueTimeoutMillis } = yield* queueOptions(check, {
      maxQueue: options.maxQueue ?? defaults.maxQueue,
      queueTimeout: options.queueTimeout
    })
    return { service, maxConcurrent, maxQueue, queueTimeoutMillis }
  })

/**
 * Builds a bulkhead. Share the instance between every caller of the service it
 * guards: each `make` has its own slots.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<Bulkhead, InvalidPolicy> =>
  Effect.flatMap(validate(options), (validated) =>
    Effect.sync(() => {
      const { maxConcurrent, maxQueue, queueTimeoutMillis, service } = validated
      const activeGauge = Metric.tagged(Metrics.bulkheadActive, "service", service)
      const queuedGauge = Metric.tagged(Metrics.bulkheadQueued, "service", service)
      const rejections = Metric.tagged(Metrics.bulkheadRejections, "service", service)
      const fullCounter = Metric.tagged(rejections, "reason", "full")
      const timeoutCounter = Metric.tagged(rejections, "reason", "queue-timeout")
      // Gauges follow the shared state, not a fiber, so they are set where the state changes.
      const permits = new Permits(maxConcurrent, (state) => {
        activeGauge.unsafeUpdate(state.active, [])
        queuedGauge.unsafeUpdate(state.queued, [])
      })
      const release = Effect.sync(() => permits.release())
      const queueing: Queueing<Rejection> = {
        maxQueue,
        queueTimeout: queueTimeoutMillis,
        full: () =>
          Effect.suspend(() => {
            fullCounter.unsafeUpdate(1, [])
            return Effect.fail(new BulkheadFull({ service, maxConcurrent, maxQueue }))
          }),
        timedOut: () =>
          Effect.suspend(() => {
            timeoutCounter.unsafeUpdate(1, [])
            return Effect.fail(new BulkheadQueueTimeout({ service, waited: Duration.millis(queueTimeoutMillis ?? 0) }))
          })
      }
      return {
        service,
        maxConcurrent,
        maxQueue,
        queueTimeoutMillis,
        protect: <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | Rejection, R> =>
          withPermit(permits, queueing, (restore) => Effect.ensuring(restore(self), release)),
        stats: Effect.sync(() => ({
          active: permits.active,
          queued: permits.queued,
          available: Math.max(0, maxConcurrent - permits.active)
        }))
      }
    }))
