/**
 * A shared Retry-After gate for one service. When a call fails with a delay
 * hint (a 429 or 503 with `Retry-After`, or any failure carrying a structural
 * `retryAfter`, see {@link RetryAfter.hint}), the gate closes until the hint
 * runs out; every caller of the service then sleeps until the gate opens
 * *before* calling, instead of each discovering the 429 on its own.
 *
 * A caller that would wait longer than `maxWait` fails at once with
 * {@link GateClosed}, whose `retryAfter` a Bulwark retry honours.
 *
 * The open path costs one clock read and one `catchAll`.
 *
 * ```ts
 * const gate = yield* RetryAfterGate.make({ service: "orpheus" })
 * const music = yield* gate.protect(generate(prompt))
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import type { InvalidPolicy } from "./Errors.js"
import { checker } from "./internal/validate.js"
import * as Metrics from "./Metrics.js"
import * as RetryAfter from "./RetryAfter.js"
import * as Timeout from "./Timeout.js"

/**
 * The gate is closed for longer than the caller was willing to wait.
 *
 * @since 0.1.0
 * @category Errors
 */
export class GateClosed extends Schema.TaggedError<GateClosed>()("GateClosed", {
  service: Schema.String,
  /** When the gate opens, from now. */
  retryAfter: Schema.DurationFromMillis
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.service} asked callers to wait; the gate opens in ${Duration.format(this.retryAfter)}`
  }
}

/**
 * Every option, with its default.
 *
 * @since 0.1.0
 * @category Options
 */
export interface Options<in E = unknown> {
  /** Names the gate in errors, logs and metrics. Default `"retry-after-gate"`. */
  readonly service?: string | undefined
  /** A caller that would wait longer fails at once with {@link GateClosed}. Default 5 minutes (as `Retry`'s `maxRetryAfter`). */
  readonly maxWait?: Duration.DurationInput | undefined
  /** Each waiter wakes at a random offset in [0, spread) after the gate opens, so they do not all call at once. Default 0. */
  readonly spread?: Duration.DurationInput | undefined
  /** Which hinted failures close the gate. Default: every failure with a hint. */
  readonly closeOn?: ((error: E) => boolean) | undefined
}

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  service: "retry-after-gate",
  maxWait: "5 minutes",
  spread: 0
} as const

/**
 * A gate's state at one instant.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Stats {
  /** Time until the gate opens; none when it is open. */
  readonly retryAfter: Option.Option<Duration.Duration>
  /** Callers sleeping at the gate. */
  readonly waiting: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface RetryAfterGate<in E = unknown> {
  readonly service: string
  /**
   * Waits for the gate, runs `self`, and closes the gate if `self` fails with a hint. Under a
   * `Timeout.total`, a wait that would end past its deadline fails at once with that timeout's
   * `DeadlineExceeded` (in the total's type, not this one's).
   */
  readonly protect: <A, E1 extends E, R>(self: Effect.Effect<A, E1, R>) => Effect.Effect<A, E1 | GateClosed, R>
  /**
   * Closes the gate for `duration` from now (never shortens a longer closing), e.g. from a rate-limit
   * header. Garbage, negative, NaN or endless durations fail with `InvalidPolicy` and leave the gate as is.
   */
  readonly closeFor: (duration: Duration.DurationInput) => Effect.Effect<void, InvalidPolicy>
  /** Opens the gate now. */
  readonly open: Effect.Effect<void>
  readonly stats: Effect.Effect<Stats>
}

const check = checker("retry-after-gate")

const validate = <E>(options: Options<E>) =>
  Either.gen(function*() {
    const service = yield* check.service("service", options.service ?? defaults.service)
    const maxWait = yield* check.millis("maxWait", options.maxWait ?? defaults.maxWait, { infinite: true })
    const spread = yield* check.millis("spread", options.spread ?? defaults.spread)
    const closeOn = yield* check.predicate("closeOn", options.closeOn ?? (() => true))
    return { service, maxWait, spread, closeOn }
  })

/**
 * Builds a gate. One per service, shared by all its callers: that is the point.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <E = unknown>(options: Options<E> = {}): Effect.Effect<RetryAfterGate<E>, InvalidPolicy> =>
  Effect.flatMap(validate(options), ({ closeOn, maxWait, service, spread }) =>
    Effect.sync(() => {
      /** Epoch millis before which nobody calls. */
      let openAt = -Infinity
      let waiting = 0
      const waits = Metric.tagged(Metrics.retryAfterGateWaits, "service", service)

      const closeUntil = (until: number, now: number, cause: string): Effect.Effect<void> => {
        if (until <= openAt) return Effect.void
        const wasOpen = openAt <= now
        openAt = until
        return wasOpen
          ? Effect.logWarning(
            `Retry-After gate for ${service} closed for ${Duration.format(Duration.millis(until - now))} (${cause})`
          ).pipe(Effect.annotateLogs({ service, retry_after_ms: until - now }))
          : Effect.void
      }

      const onFailure = <E1 extends E>(error: E1): Effect.Effect<never, E1> => {
        const hint = RetryAfter.hint(error)
        if (hint === undefined || !closeOn(error)) return Effect.fail(error)
        return Effect.clockWith((clock) => {
          const now = clock.unsafeCurrentTimeMillis()
          const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "failure"
          return Effect.zipRight(closeUntil(now + RetryAfter.ceilMillis(hint), now, tag), Effect.fail(error))
        })
      }

      const call = <A, E1 extends E, R>(self: Effect.Effect<A, E1, R>) => Effect.catchAll(self, onFailure<E1>)

      /**
       * Sleeps while the gate is closed; re-checks after each sleep, as a later failure may have closed it further.
       * A wait that would end past the deadline of an enclosing `Timeout.total` fails at once with its
       * `DeadlineExceeded`: sleeping into the deadline would only fail later.
       */
      const pass = (counted: boolean): Effect.Effect<void, GateClosed> =>
        Effect.withFiberRuntime((fiber) => {
          const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
          if (now >= openAt) return Effect.void
          const remaining = Math.ceil(openAt - now)
          if (remaining > maxWait) {
            return Effect.fail(new GateClosed({ service, retryAfter: Duration.millis(remaining) }))
          }
          const deadline = Timeout.remainingBound(fiber, now)
          const untilDeadline = deadline === undefined ? Infinity : deadline.millis
          if (deadline !== undefined && remaining > untilDeadline) return deadline.fail
          if (!counted) waits.unsafeUpdate(1, [])
          const jitter = spread === 0 ? Effect.succeed(0) : Random.nextIntBetween(0, Math.ceil(spread))
          return Effect.flatMap(jitter, (offset) =>
            // Counted in the uninterruptible acquire, so the release always uncounts.
            Effect.acquireUseRelease(
              Effect.sync(() => {
                waiting++
              }),
              // The spread never pushes a caller past its deadline.
              () => Effect.sleep(Duration.millis(Math.min(remaining + offset, untilDeadline))),
              () =>
                Effect.sync(() => {
                  waiting--
                })
            ).pipe(Effect.zipRight(pass(true))))
        })

      const gate: RetryAfterGate<E> = {
        service,
        protect: <A, E1 extends E, R>(self: Effect.Effect<A, E1, R>) =>
          Effect.clockWith((clock) =>
            clock.unsafeCurrentTimeMillis() >= openAt ? call(self) : Effect.zipRight(pass(false), call(self))
          ),
        closeFor: (duration) =>
          Effect.flatMap(
            // Fed from response headers: garbage, negative or endless values are refused, not clamped.
            check.millis("closeFor", duration),
            (millis) =>
              Effect.clockWith((clock) => {
                const now = clock.unsafeCurrentTimeMillis()
                return closeUntil(now + Math.ceil(millis), now, "closeFor")
              })
          ),
        open: Effect.sync(() => {
          openAt = -Infinity
        }),
        stats: Effect.clockWith((clock) =>
          Effect.sync(() => {
            const now = clock.unsafeCurrentTimeMillis()
            return {
              retryAfter: now < openAt ? Option.some(Duration.millis(Math.ceil(openAt - now))) : Option.none(),
              waiting
            }
          })
        )
      }
      return gate
    }))
