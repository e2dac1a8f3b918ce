/**
 * A client-side rate limiter: a token bucket (`rate` tokens per `interval`,
 * bursts of up to `burst`), a minimum `spacing` between calls (seed 001: 100 ms
 * between LLM requests), or both.
 *
 * By default a call over the rate waits its turn: it reserves the next free
 * slot at once and sleeps until it, in one `Effect.sleep` (no polling), so
 * callers are served first come first served and the rate holds over every
 * window. With `onExceeded: "reject"`, or when the wait would exceed `maxWait`,
 * the call fails at once with the shared {@link Errors.RateLimited}, whose
 * `retryAfter` is the wait it was spared; a Bulwark retry honours it like a
 * server's 429.
 *
 * ```ts
 * const llm = yield* RateLimiter.make({ service: "llm", spacing: "100 millis" })
 * const perUser = yield* RateLimiter.keyed({ service: "github", rate: 10, interval: "1 second" })
 * yield* llm.protect(complete(prompt))
 * yield* createComment.pipe(perUser.protect(installationId))
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import type { InvalidPolicy } from "./Errors.js"
import { RateLimited } from "./Errors.js"
import { TokenBucket } from "./internal/tokenBucket.js"
import { checker } from "./internal/validate.js"
import * as Metrics from "./Metrics.js"
import * as Timeout from "./Timeout.js"

/**
 * What a call over the rate does: `wait` for its slot (default) or fail at once
 * with {@link Errors.RateLimited}.
 *
 * @since 0.1.0
 * @category Models
 */
export type OnExceeded = "wait" | "reject"

/**
 * Every option, with its default. Give `rate`, `spacing` or both.
 *
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Names the limiter in errors and metrics. Default `"rate-limiter"`. */
  readonly service?: string | undefined
  /** Tokens added per `interval`; a number > 0. Default: no token bucket. */
  readonly rate?: number | undefined
  /** The period of `rate`, > 0. Default 1 second. */
  readonly interval?: Duration.DurationInput | undefined
  /** Tokens the bucket holds: calls that may start back to back. Default `rate` rounded down, at least 1. */
  readonly burst?: number | undefined
  /** Minimum time between the starts of two calls. Default 0. */
  readonly spacing?: Duration.DurationInput | undefined
  /** Wait for a slot, or reject at once. Default `"wait"`. */
  readonly onExceeded?: OnExceeded | undefined
  /** In `wait` mode, a call whose wait would be longer fails at once instead. Default: no bound. */
  readonly maxWait?: Duration.DurationInput | undefined
}

/**
 * Options under which calls always wait: the limiter never fails.
 *
 * @since 0.1.0
 * @category Options
 */
export interface WaitingOptions extends Options {
  readonly onExceeded?: "wait" | undefined
  readonly maxWait?: undefined
}

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  service: "rate-limiter",
  interval: "1 second",
  spacing: 0,
  onExceeded: "wait"
} as const

/**
 * A limiter's state at one instant.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Stats {
  /** Whole tokens in the bucket now (without a rate: 1 when the spacing has passed, else 0). */
  readonly tokens: number
  /** Callers sleeping until their reserved slot. */
  readonly waiting: number
}

/**
 * A rate limiter. `X` is what it can fail with: `never` when calls always wait.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RateLimiter<out X = RateLimited> {
  readonly service: string
  /**
   * Runs `self` once its slot comes, or refuses it. Under a `Timeout.total`, a wait that would end past
   * its deadline fails at once with that timeout's `DeadlineExceeded` (in the total's type, not this
   * one's), without taking the slot.
   */
  readonly protect: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | X, R>
  readonly stats: Effect.Effect<Stats>
}

/**
 * One token bucket per key (a user, a tenant, an installation), each created on
 * first use with the same options. A bucket that has refilled and has no
 * waiters behaves exactly like a new one, so such buckets are forgotten as keys
 * pile up.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Keyed<in K, out X = RateLimited> {
  readonly service: string
  /** Runs `self` under `key`'s bucket: `effect.pipe(limiter.protect(key))`. */
  readonly protect: (key: K) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | X, R>
  readonly stats: (key: K) => Effect.Effect<Stats>
  /** Buckets held now. */
  readonly size: Effect.Effect<number>
}

/**
 * The `detail` of the {@link Errors.RateLimited} this limiter fails with, which
 * tells it apart from a server's 429.
 *
 * @since 0.1.0
 * @category Errors
 */
export const rejectionDetail = "local rate limiter"

/**
 * Whether a failure is a local rate limiter's refusal rather than the service's
 * 429: a circuit breaker should not count it as a failure of the service.
 *
 * @since 0.1.0
 * @category Errors
 */
export const isRejection = (error: unknown): error is RateLimited =>
  error instanceof RateLimited && error.detail === rejectionDetail

const check = checker("rate-limiter")

interface Validated {
  readonly service: string
  readonly emission: number
  readonly tolerance: number
  readonly burst: number
  readonly spacing: number
  readonly maxWait: number
}

const positive = (field: string, value: unknown): Either.Either<number, InvalidPolicy> =>
  typeof value === "number" && value > 0 && Number.isFinite(value)
    ? Either.right(value)
    : check.refuse(field, value, "a finite number > 0")

const validate = (options: Options): Either.Either<Validated, InvalidPolicy> =>
  Either.gen(function*() {
    const service = yield* check.service("service", options.service ?? defaults.service)
    const spacing = yield* check.millis("spacing", options.spacing ?? defaults.spacing)
    let emission = 0
    let burst = 1
    if (options.rate === undefined) {
      if (spacing === 0) return yield* check.refuse("rate", options.rate, "a finite number > 0 (or give a spacing)")
      if (options.burst !== undefined) return yield* check.refuse("burst", options.burst, "no value without a rate")
      if (options.interval !== undefined) {
        return yield* check.refuse("interval", options.interval, "no value without a rate")
      }
    } else {
      const rate = yield* positive("rate", options.rate)
      const interval = yield* check.millis("interval", options.interval ?? defaults.interval)
      if (interval === 0) return yield* check.refuse("interval", options.interval, "a duration > 0")
      burst = yield* check.number("burst", options.burst ?? Math.max(1, Math.floor(rate)), { min: 1, integer: true })
      emission = interval / rate
    }
    const onExceeded = yield* check.oneOf("onExceeded", options.onExceeded ?? defaults.onExceeded, ["wait", "reject"])
    if (onExceeded === "reject" && options.maxWait !== undefined) {
      return yield* check.refuse("maxWait", options.maxWait, "no value with onExceeded: \"reject\"")
    }
    const maxWait = onExceeded === "reject"
      ? 0
      : yield* check.millis("maxWait", options.maxWait ?? Infinity, { infinite: true })
    return { service, emission, tolerance: (burst - 1) * emission, burst, spacing, maxWait }
  })

const currentTimeMillis = <A, E>(fiber: Fiber.RuntimeFiber<A, E>): number =>
  Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()

const build = (validated: Validated) => {
  const { burst, maxWait, service } = validated
  const waitHistogram = Metric.tagged(Metrics.rateLimiterWaitSeconds, "service", service)
  const rejections = Metric.tagged(Metrics.rateLimiterRejections, "service", service)
  const bucket = () => new TokenBucket(validated.emission, validated.tolerance, validated.spacing)

  const admit = <A, E, R>(
    state: TokenBucket,
    now: number,
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    self: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | RateLimited, R> => {
    const delay = state.delay(now)
    if (delay === 0) {
      state.reserve(now)
      waitHistogram.unsafeUpdate(0, [])
      return self
    }
    if (delay > maxWait) {
      rejections.unsafeUpdate(1, [])
      return Effect.fail(
        new RateLimited({ service, detail: rejectionDetail, retryAfter: Duration.millis(delay) })
      )
    }
    // Sleeping into an enclosing Timeout.total's deadline would only fail later; the slot stays free.
    const deadline = Timeout.remainingBound(fiber, now)
    if (deadline !== undefined && delay > deadline.millis) return deadline.fail
    waitHistogram.unsafeUpdate(delay / 1000, [])
    // Reserved and counted in the uninterruptible acquire, so the release always undoes both.
    return Effect.acquireUseRelease(
      Effect.sync(() => {
        state.waiting++
        return state.reserve(now + delay)
      }),
      () => Effect.sleep(Duration.millis(delay)),
      (reservation, exit) =>
        Effect.sync(() => {
          state.waiting--
          if (Exit.isInterrupted(exit)) state.cancel(reservation)
        })
    ).pipe(Effect.zipRight(self))
  }

  const stats = (state: TokenBucket | undefined) =>
    Effect.clockWith((clock) =>
      Effect.sync((): Stats =>
        state === undefined
          ? { tokens: burst, waiting: 0 }
          : { tokens: state.tokens(clock.unsafeCurrentTimeMillis(), burst), waiting: state.waiting }
      )
    )

  return { admit, bucket, stats }
}

/**
 * Builds a rate limiter. Share the instance between every caller it limits.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: {
  (options: WaitingOptions): Effect.Effect<RateLimiter<never>, InvalidPolicy>
  (options: Options): Effect.Effect<RateLimiter<RateLimited>, InvalidPolicy>
} = (options: Options): Effect.Effect<any, InvalidPolicy> =>
  Effect.flatMap(validate(options), (validated) =>
    Effect.sync(() => {
      const { admit, bucket, stats } = build(validated)
      const state = bucket()
      const limiter: RateLimiter = {
        service: validated.service,
        protect: <A, E, R>(self: Effect.Effect<A, E, R>) =>
          Effect.withFiberRuntime<A, E | RateLimited, R>((fiber) =>
            admit(state, currentTimeMillis(fiber), fiber, self)
          ),
        stats: Effect.suspend(() => stats(state))
      }
      return limiter
    }))

/**
 * Builds a keyed rate limiter: one bucket per key, same options for all.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const keyed: {
  <K = string>(options: WaitingOptions): Effect.Effect<Keyed<K, never>, InvalidPolicy>
  <K = string>(options: Options): Effect.Effect<Keyed<K, RateLimited>, InvalidPolicy>
} = <K>(options: Options): Effect.Effect<any, InvalidPolicy> =>
  Effect.flatMap(validate(options), (validated) =>
    Effect.sync(() => {
      const { admit, bucket, stats } = build(validated)
      const buckets = new Map<K, TokenBucket>()
      let sweepAt = 1024
      const bucketFor = (key: K, now: number): TokenBucket => {
        const found = buckets.get(key)
        if (found !== undefined) return found
        if (buckets.size >= sweepAt) {
          for (const [known, state] of buckets) if (state.idle(now)) buckets.delete(known)
          // Amortised: the next sweep waits until the map has doubled again.
          sweepAt = Math.max(1024, buckets.size * 2)
        }
        const created = bucket()
        buckets.set(key, created)
        return created
      }
      const limiter: Keyed<K> = {
        service: validated.service,
        protect: (key: K) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
          Effect.withFiberRuntime<A, E | RateLimited, R>((fiber) => {
            const now = currentTimeMillis(fiber)
            return admit(bucketFor(key, now), now, fiber, self)
          }),
        stats: (key: K) => Effect.suspend(() => stats(buckets.get(key))),
        size: Effect.sync(() => buckets.size)
      }
      return limiter
    }))
