/**
 * Retry policies: a backoff `Schedule`, stop conditions, Retry-After hints and a
 * classification of failures, applied as `effect.pipe(Retry.retry(policy))`.
 *
 * `maxAttempts` counts calls, the first one included: `maxAttempts: 5` is one
 * call and up to four retries. Every Bulwark module counts this way.
 *
 * When the first call succeeds, a retried effect costs one `catchAll` and one
 * clock read more than the bare effect: no schedule driver, no fiber.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import * as Backoff from "./Backoff.js"
import * as Classify from "./Classify.js"
import { InvalidPolicy } from "./Errors.js"
import { retryLoop } from "./internal/retryLoop.js"
import { checker } from "./internal/validate.js"
import * as Metrics from "./Metrics.js"
import * as RetryAfter from "./RetryAfter.js"
import type * as RetryBudget from "./RetryBudget.js"

/**
 * @since 0.1.0
 * @category Type IDs
 */
export const TypeId: unique symbol = Symbol.for("@bulwark/core/Retry")

/**
 * @since 0.1.0
 * @category Type IDs
 */
export type TypeId = typeof TypeId

/**
 * What the caller sees when the policy gives up: `wrap` (default) fails with
 * {@link RetriesExhausted}, `last-error` with the last failure unchanged.
 *
 * @since 0.1.0
 * @category Models
 */
export type Surface = "wrap" | "last-error"

/**
 * Whether a rate-limited failure (HTTP 429, "GPU busy") uses up an attempt.
 * With `free`, such retries are bounded by `maxRateLimited` and the deadline instead.
 *
 * @since 0.1.0
 * @category Models
 */
export type RateLimitedAttempts = "count" | "free"

/**
 * Every option, with its default.
 *
 * @since 0.1.0
 * @category Options
 */
export interface Options<in E = unknown> {
  /** Names the policy in logs, spans and metrics. Default `"retry"`. */
  readonly name?: string | undefined
  /** Calls in all, the first included; an integer ≥ 1 or Infinity. Default 3. */
  readonly maxAttempts?: number | undefined
  /** First backoff delay. Default 1 second. */
  readonly base?: Duration.DurationInput | undefined
  /** Backoff growth per retry, ≥ 1. Default 2. */
  readonly factor?: number | undefined
  /** Cap on each backoff delay (not on server hints: see `maxRetryAfter`). Default 30 seconds. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** Jitter mode of the backoff. Default `"full"`. */
  readonly jitter?: Backoff.Jitter | undefined
  /** Any schedule to use instead of base / factor / maxDelay / jitter; its delays are used, its `Done` stops. */
  readonly backoff?: Schedule.Schedule<unknown, E> | undefined
  /** Deadline from the first call: a retry whose sleep would end past it is not started. Default: none. */
  readonly maxElapsed?: Duration.DurationInput | undefined
  /** How server delay hints combine with the backoff. Default `"floor"`. */
  readonly retryAfter?: RetryAfter.Mode | undefined
  /** A hint longer than this gives up at once instead of sleeping. Default 5 minutes. */
  readonly maxRetryAfter?: Duration.DurationInput | undefined
  /** Whether rate-limited failures use up attempts. Default `"count"`. */
  readonly rateLimitedAttempts?: RateLimitedAttempts | undefined
  /** Bound on free rate-limited retries (with `rateLimitedAttempts: "free"`). Default 20. */
  readonly maxRateLimited?: number | undefined
  /** Which failures are retried; others pass through unchanged. Default {@link Classify.isRetryable}. */
  readonly retryOn?: ((error: E) => boolean) | undefined
  /** Which failures are rate limiting. Default {@link Classify.isRateLimited}. */
  readonly isRateLimited?: ((error: E) => boolean) | undefined
  /** What the caller sees on giving up. Default `"wrap"`. */
  readonly exhausted?: Surface | undefined
  /** A budget shared by every call to the service: each call deposits, each retry withdraws. Default: none. */
  readonly budget?: RetryBudget.RetryBudget | undefined
}

/**
 * A validated retry policy.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Policy<in E = unknown, out S extends Surface = Surface> {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly maxAttempts: number
  readonly backoff: Schedule.Schedule<unknown, E>
  readonly maxElapsedMillis: number
  readonly retryAfter: RetryAfter.Mode
  readonly maxRetryAfterMillis: number
  readonly rateLimitedAttempts: RateLimitedAttempts
  readonly maxRateLimited: number
  readonly retryOn: (error: E) => boolean
  readonly isRateLimited: (error: E) => boolean
  readonly exhausted: S
  readonly budget: RetryBudget.RetryBudget | undefined
  /** Metrics already tagged with this policy's name. */
  readonly metrics: {
    readonly attempts: Metric.Metric.Counter<number>
    readonly exhausted: Metric.Metric.Counter<number>
    readonly delay: Metric.Metric.Histogram<number>
  }
}

/**
 * Why a policy gave up.
 *
 * @since 0.1.0
 * @category Errors
 */
export type GiveUpReason =
  | "max-attempts"
  | "max-rate-limited"
  | "schedule-done"
  | "deadline"
  | "retry-after-beyond-cap"
  | "retry-after-beyond-deadline"
  | "budget-exhausted"

const reasons: Record<GiveUpReason, string> = {
  "max-attempts": "no attempts left",
  "max-rate-limited": "too many rate-limited retries",
  "schedule-done": "the backoff schedule ended",
  "deadline": "the next retry would end past the deadline",
  "retry-after-beyond-cap": "the server asked for a wait longer than maxRetryAfter",
  "retry-after-beyond-deadline": "the server asked for a wait that ends past the deadline",
  "budget-exhausted": "the service's retry budget is exhausted"
}

/**
 * @since 0.1.0
 * @category Errors
 */
export const describeReason = (reason: GiveUpReason): string => reasons[reason]

const RetriesExhaustedBase = Data.TaggedError("RetriesExhausted")<{
  readonly policy: string
  readonly reason: GiveUpReason
  /** Calls made, rate-limited ones included. */
  readonly attempts: number
  /** From the start of the first call to giving up. */
  readonly elapsed: Duration.Duration
  readonly lastError: unknown
  /** The server's hint on the last failure, if any. */
  readonly retryAfter: Duration.Duration | undefined
}>

/**
 * The policy gave up. Carries the last failure, typed.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RetriesExhausted<out E = unknown> extends RetriesExhaustedBase {
  declare readonly lastError: E

  /** @since 0.1.0 */
  override get message(): string {
    const last = this.lastError instanceof Error ? this.lastError.message : String(this.lastError)
    return `${this.policy} gave up after ${this.attempts} attempt${this.attempts === 1 ? "" : "s"}: ${
      reasons[this.reason]
    }; last error: ${last}`
  }
}

/**
 * The error channel of a retried effect: what is not retried passes through.
 *
 * @since 0.1.0
 * @category Models
 */
export type Failure<E, S extends Surface> = S extends "last-error" ? E : E | RetriesExhausted<E>

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  name: "retry",
  maxAttempts: 3,
  base: "1 second",
  factor: 2,
  maxDelay: "30 seconds",
  jitter: "full",
  retryAfter: "floor",
  maxRetryAfter: "5 minutes",
  rateLimitedAttempts: "count",
  maxRateLimited: 20,
  exhausted: "wrap"
} as const

const check = checker("retry")

/**
 * Validates options into a {@link Policy}. The result is an `Either`, yieldable
 * in `Effect.gen`: `const policy = yield* Retry.policy({ maxAttempts: 5 })`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const policy = <E = unknown, const S extends Surface = "wrap">(
  options: Options<E> & { readonly exhausted?: S | undefined } = {}
): Either.Either<Policy<E, S>, InvalidPolicy> =>
  Either.gen(function*() {
    const name = yield* check.service("name", options.name ?? defaults.name)
    const maxAttempts = yield* check.number("maxAttempts", options.maxAttempts ?? defaults.maxAttempts, {
      min: 1,
      integer: true,
      infinite: true
    })
    const backoff = options.backoff === undefined ? yield* standardBackoff(options) : yield* customBackoff(options)
    const maxElapsedMillis = yield* check.millis("maxElapsed", options.maxElapsed ?? Infinity, { infinite: true })
    const retryAfter = yield* check.oneOf("retryAfter", options.retryAfter ?? defaults.retryAfter, RetryAfter.modes)
    const maxRetryAfterMillis = yield* check.millis(
      "maxRetryAfter",
      options.maxRetryAfter ?? defaults.maxRetryAfter,
      { infinite: true }
    )
    const rateLimitedAttempts = yield* check.oneOf(
      "rateLimitedAttempts",
      options.rateLimitedAttempts ?? defaults.rateLimitedAttempts,
      ["count", "free"] as const
    )
    const maxRateLimited = yield* check.number("maxRateLimited", options.maxRateLimited ?? defaults.maxRateLimited, {
      min: 0,
      integer: true,
      infinite: true
    })
    const retryOn = yield* check.predicate("retryOn", options.retryOn ?? Classify.isRetryable)
    const isRateLimited = yield* check.predicate("isRateLimited", options.isRateLimited ?? Classify.isRateLimited)
    const exhausted = yield* check.oneOf("exhausted", options.exhausted ?? defaults.exhausted, ["wrap", "last-error"])
    const budget = options.budget
    if (budget !== undefined && (typeof budget !== "object" || !Effect.isEffect(budget.tryWithdraw))) {
      yield* check.refuse("budget", budget, "a RetryBudget (RetryBudget.make)")
    }
    return {
      [TypeId]: TypeId,
      name,
      maxAttempts,
      backoff,
      maxElapsedMillis,
      retryAfter,
      maxRetryAfterMillis,
      rateLimitedAttempts,
      maxRateLimited,
      retryOn,
      isRateLimited,
      exhausted: exhausted as S,
      budget,
      metrics: {
        attempts: Metric.tagged(Metrics.retryAttempts, "policy", name),
        exhausted: Metric.tagged(Metrics.retryExhausted, "policy", name),
        delay: Metric.tagged(Metrics.retryDelaySeconds, "policy", name)
      }
    }
  })

const standardBackoff = (options: Options<never>) =>
  Backoff.exponential({
    base: options.base ?? defaults.base,
    factor: options.factor ?? defaults.factor,
    maxDelay: options.maxDelay ?? defaults.maxDelay,
    jitter: options.jitter ?? defaults.jitter
  }).pipe(Either.mapLeft((invalid) => new InvalidPolicy({ ...invalid, policy: "retry" })))

const customBackoff = <E>(options: Options<E>): Either.Either<Schedule.Schedule<unknown, E>, InvalidPolicy> => {
  const clash = (["base", "factor", "maxDelay", "jitter"] as const).find((field) => options[field] !== undefined)
  return clash === undefined
    ? Either.right(options.backoff!)
    : check.refuse(clash, options[clash], "no value when a custom backoff schedule is given")
}

/**
 * Retries `self` under `policy`. Failures the policy does not retry pass through
 * unchanged; giving up fails as the policy's {@link Surface} says.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const retry: {
  <E2, S extends Surface>(
    policy: Policy<E2, S>
  ): <A, E extends E2, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, Failure<E, S>, R>
  <A, E extends E2, R, E2, S extends Surface>(
    self: Effect.Effect<A, E, R>,
    policy: Policy<E2, S>
  ): Effect.Effect<A, Failure<E, S>, R>
} = dual(2, retryLoop)

/**
 * The environment variables of a policy, all optional, relative to any
 * `Config.nested` prefix: `MAX_ATTEMPTS`, `BASE_DELAY`, `FACTOR`, `MAX_DELAY`,
 * `JITTER`, `MAX_ELAPSED`, `RETRY_AFTER`, `MAX_RETRY_AFTER`,
 * `RATE_LIMITED_ATTEMPTS`, `MAX_RATE_LIMITED`. Durations read as "1 second",
 * "500 millis"; they are read as text and checked by the policy, because
 * `Config.duration` turns "-5 seconds" into zero without a word.
 *
 * @since 0.1.0
 * @category Config
 */
export const configKeys = {
  maxAttempts: "MAX_ATTEMPTS",
  base: "BASE_DELAY",
  factor: "FACTOR",
  maxDelay: "MAX_DELAY",
  jitter: "JITTER",
  maxElapsed: "MAX_ELAPSED",
  retryAfter: "RETRY_AFTER",
  maxRetryAfter: "MAX_RETRY_AFTER",
  rateLimitedAttempts: "RATE_LIMITED_ATTEMPTS",
  maxRateLimited: "MAX_RATE_LIMITED"
} as const

const optional = <A>(config: Config.Config<A>) =>
  Config.map(Config.option(config), (value) => Option.getOrUndefined(value))

/**
 * Reads a policy from the environment. Unset variables take `defaults` (the
 * user's), then Bulwark's own; an invalid value fails with a `ConfigError` that
 * names the variable.
 *
 * ```ts
 * const policy = yield* Retry.config({ name: "llm", maxAttempts: 5 }).pipe(Config.nested("LLM_RETRY"))
 * ```
 *
 * @since 0.1.0
 * @category Config
 */
export const config = <E = unknown>(defaultOptions: Options<E> = {}): Config.Config<Policy<E, "wrap">> =>
  Config.all({
    maxAttempts: optional(Config.number(configKeys.maxAttempts)),
    base: optional(Config.string(configKeys.base)),
    factor: optional(Config.number(configKeys.factor)),
    maxDelay: optional(Config.string(configKeys.maxDelay)),
    jitter: optional(Config.literal(...Backoff.jitters)(configKeys.jitter)),
    maxElapsed: optional(Config.string(configKeys.maxElapsed)),
    retryAfter: optional(Config.literal(...RetryAfter.modes)(configKeys.retryAfter)),
    maxRetryAfter: optional(Config.string(configKeys.maxRetryAfter)),
    rateLimitedAttempts: optional(Config.literal("count", "free")(configKeys.rateLimitedAttempts)),
    maxRateLimited: optional(Config.number(configKeys.maxRateLimited))
  }).pipe(
    Config.mapOrFail((fromEnv) => {
      const set = Object.fromEntries(Object.entries(fromEnv).filter(([, value]) => value !== undefined))
      return Either.mapLeft(
        policy<E, "wrap">({ ...defaultOptions, ...set, exhausted: "wrap" }),
        (invalid) =>
          ConfigError.InvalidData(
            [invalid.field in configKeys ? configKeys[invalid.field as keyof typeof configKeys] : invalid.field],
            invalid.message
          )
      )
    })
  )
