/**
 * One composition of every policy, in one fixed order, outer to inner:
 *
 * ```
 * total timeout → retry (with budget) → circuit breaker → Retry-After gate
 *   → rate limiter → adaptive limiter → bulkhead → attempt timeout → call
 * ```
 *
 * The order of the .NET standard resilience handler, with the breaker checked
 * before every attempt (seed 004's decorator ordering): a retry never calls
 * through an open breaker, it waits the breaker's `retryAfter`; a total timeout
 * bounds every attempt and every sleep, and the retry declines a sleep that
 * would end past it instead of sleeping into the deadline.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as AdaptiveLimiter from "./AdaptiveLimiter.js"
import * as Bulkhead from "./Bulkhead.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as Classify from "./Classify.js"
import { InvalidPolicy } from "./Errors.js"
import type { RateLimited } from "./Errors.js"
import { checker } from "./internal/validate.js"
import * as RateLimiter from "./RateLimiter.js"
import * as Retry from "./Retry.js"
import * as RetryAfterGate from "./RetryAfterGate.js"
import * as RetryBudget from "./RetryBudget.js"
import * as Timeout from "./Timeout.js"

/**
 * Every layer is off unless given; `false` turns a layer of {@link standard} off.
 *
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Names the service in every layer's logs, errors and metrics. Required. */
  readonly service: string
  /** The deadline of the whole call, retries and their sleeps included. */
  readonly totalTimeout?: Duration.DurationInput | false | undefined
  /** Retry options (`name` is the service). */
  readonly retry?: Omit<Retry.Options, "name" | "budget" | "exhausted"> | false | undefined
  /** A retry budget shared by every call through this policy (`service` is the service). */
  readonly budget?: Omit<RetryBudget.Options, "service"> | false | undefined
  readonly circuitBreaker?: CircuitBreaker.Options | false | undefined
  readonly retryAfterGate?: Omit<RetryAfterGate.Options, "service"> | false | undefined
  readonly rateLimiter?: Omit<RateLimiter.Options, "service"> | false | undefined
  readonly adaptiveLimiter?: Omit<AdaptiveLimiter.Options, "service"> | false | undefined
  readonly bulkhead?: Omit<Bulkhead.Options, "service"> | false | undefined
  /** The timeout of each attempt. */
  readonly attemptTimeout?: Duration.DurationInput | false | undefined
}

/**
 * What a call through a policy can fail with besides its own errors.
 *
 * @since 0.1.0
 * @category Models
 */
export type Rejection =
  | CircuitBreaker.Rejection
  | RetryAfterGate.GateClosed
  | RateLimited
  | AdaptiveLimiter.Rejection
  | Bulkhead.Rejection
  | Timeout.AttemptTimedOut

/**
 * @since 0.1.0
 * @category Models
 */
export type Failure<E> = E | Rejection | Retry.RetriesExhausted<E | Rejection> | Timeout.DeadlineExceeded

/**
 * The layers a policy was built with, for stats and manual control
 * (`policy.layers.circuitBreaker?.isolate`).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Layers {
  readonly totalTimeout: (Timeout.Timeout<"total"> & Timeout.Bounds) | undefined
  readonly retry: Retry.Policy<unknown, "wrap"> | undefined
  readonly budget: RetryBudget.RetryBudget | undefined
  readonly circuitBreaker: CircuitBreaker.CircuitBreaker | undefined
  readonly retryAfterGate: RetryAfterGate.RetryAfterGate | undefined
  readonly rateLimiter: RateLimiter.RateLimiter | undefined
  readonly adaptiveLimiter: AdaptiveLimiter.AdaptiveLimiter | undefined
  readonly bulkhead: Bulkhead.Bulkhead | undefined
  readonly attemptTimeout: Timeout.Timeout<"attempt"> | undefined
}

/**
 * Every layer's state at one instant, for a status page.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Stats {
  readonly service: string
  readonly circuitBreaker: CircuitBreaker.Stats | undefined
  readonly retryBudget: number | undefined
  readonly retryAfterGate: RetryAfterGate.Stats | undefined
  readonly rateLimiter: RateLimiter.Stats | undefined
  readonly adaptiveLimiter: AdaptiveLimiter.Stats | undefined
  readonly bulkhead: Bulkhead.Stats | undefined
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Policy {
  readonly service: string
  readonly layers: Layers
  /** Runs `self` through every layer, in the order of this module's documentation. */
  readonly protect: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, Failure<E>, R>
  readonly stats: Effect.Effect<Stats>
}

const check = checker("policy")

const given = <A>(value: A | false | undefined): value is A => value !== undefined && value !== false

const build = <A, B, E>(
  options: A | false | undefined,
  make: (options: A) => Effect.Effect<B, E>
): Effect.Effect<B | undefined, E> => given(options) ? make(options) : Effect.succeed(undefined)

/**
 * Builds every layer the options name. Invalid options of any layer fail with
 * its `InvalidPolicy`; so does an attempt timeout longer than the total one.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<Policy, InvalidPolicy> =>
  Effect.gen(function*() {
    const service = yield* check.service("service", options.service)
    const totalTimeout = yield* build(options.totalTimeout, (after) => Timeout.total(after, { service })).pipe(
      Effect.mapError((invalid) => new InvalidPolicy({ ...invalid, policy: "policy", field: "totalTimeout" }))
    )
    const attemptTimeout = yield* build(options.attemptTimeout, (after) => Timeout.attempt(after, { service })).pipe(
      Effect.mapError((invalid) => new InvalidPolicy({ ...invalid, policy: "policy", field: "attemptTimeout" }))
    )
    if (totalTimeout !== undefined && attemptTimeout !== undefined) {
      if (Duration.greaterThan(attemptTimeout.after, totalTimeout.after)) {
        return yield* check.refuse(
          "attemptTimeout",
          Duration.format(attemptTimeout.after),
          `a duration ≤ totalTimeout (${Duration.format(totalTimeout.after)})`
        )
      }
    }
    const budget = yield* build(options.budget, (budget) => RetryBudget.make({ ...budget, service }))
    const retry = given(options.retry)
      ? yield* Retry.policy({ ...options.retry, name: service, budget, exhausted: "wrap" })
      : undefined
    if (retry === undefined && budget !== undefined) {
      return yield* check.refuse("budget", "a budget", "no budget without a retry: only retries spend it")
    }
    const layers: Layers = {
      totalTimeout,
      retry,
      budget,
      circuitBreaker: yield* build(
        options.circuitBreaker,
        (breaker) => CircuitBreaker.make({ isFailure: Classify.isServiceFailure, ...breaker, service })
      ),
      retryAfterGate: yield* build(options.retryAfterGate, (gate) => RetryAfterGate.make({ ...gate, service })),
      rateLimiter: yield* build(options.rateLimiter, (limiter) => RateLimiter.make({ ...limiter, service })),
      adaptiveLimiter: yield* build(
        options.adaptiveLimiter,
        (limiter) => AdaptiveLimiter.make({ ...limiter, service })
      ),
      bulkhead: yield* build(options.bulkhead, (bulkhead) => Bulkhead.make({ ...bulkhead, service })),
      attemptTimeout
    }
    return {
      service,
      layers,
      protect: compose(layers),
      stats: stats(service, layers)
    }
  })

/**
 * The layers as one function, in this module's order. `Policy.make` uses it on
 * the layers it built; a caller that needs a variant for one request (another
 * retry predicate, another attempt timeout) composes `{ ...policy.layers, ... }`
 * with it, so the order is written down once.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const compose = (layers: Layers): Policy["protect"] => {
  const inner: Array<(self: Effect.Effect<any, any, any>) => Effect.Effect<any, any, any>> = []
  // The total timeout only sets the deadline: every wait inside honours it, and the one
  // fiber of each attempt enforces it (failing with DeadlineExceeded), so a call costs one fork, not two.
  if (layers.attemptTimeout !== undefined) inner.push(layers.attemptTimeout.protect)
  else if (layers.totalTimeout !== undefined) inner.push(layers.totalTimeout.enforce)
  if (layers.bulkhead !== undefined) inner.push(layers.bulkhead.protect)
  if (layers.adaptiveLimiter !== undefined) inner.push(layers.adaptiveLimiter.protect)
  if (layers.rateLimiter !== undefined) inner.push(layers.rateLimiter.protect)
  if (layers.retryAfterGate !== undefined) inner.push(layers.retryAfterGate.protect)
  if (layers.circuitBreaker !== undefined) inner.push(layers.circuitBreaker.protect)
  if (layers.retry !== undefined) inner.push(Retry.retry(layers.retry))
  if (layers.totalTimeout !== undefined) inner.push(layers.totalTimeout.bound)
  return (self) => inner.reduce((effect, layer) => layer(effect), self)
}

const stats = (service: string, layers: Layers): Effect.Effect<Stats> =>
  Effect.all({
    circuitBreaker: optionalStat(layers.circuitBreaker?.stats),
    retryBudget: optionalStat(layers.budget?.balance),
    retryAfterGate: optionalStat(layers.retryAfterGate?.stats),
    rateLimiter: optionalStat(layers.rateLimiter?.stats),
    adaptiveLimiter: optionalStat(layers.adaptiveLimiter?.stats),
    bulkhead: optionalStat(layers.bulkhead?.stats)
  }).pipe(Effect.map((all) => ({ service, ...all })))

const optionalStat = <A>(stat: Effect.Effect<A> | undefined): Effect.Effect<A | undefined> =>
  stat === undefined ? Effect.succeed(undefined) : stat

/**
 * The defaults of {@link standard}: the .NET standard resilience handler's
 * layers, with the seeds' numbers.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const standardDefaults = {
  /** .NET's standard handler: 30 s per attempt would leave no room for retries; seed 001's LLM calls take 30 s. */
  totalTimeout: "2 minutes",
  /** Seed 001: 5 attempts, 1 s to 60 s, jitter; the server's Retry-After as a floor. */
  retry: { maxAttempts: 5, base: "1 second", maxDelay: "60 seconds", jitter: "full", retryAfter: "floor" },
  /** Finagle's defaults. */
  budget: { ratio: 0.2, minRetriesPerSecond: 10, ttl: "10 seconds" },
  /** Seeds 003 / 004: 5 consecutive failures, 60 s open, 2 probe successes to close. */
  circuitBreaker: { openDuration: "60 seconds", maxProbes: 1, successThreshold: 2 },
  /** One 429 with Retry-After makes every caller wait, instead of each finding out on its own. */
  retryAfterGate: { maxWait: "2 minutes" },
  /** Seed 001's request timeout. */
  attemptTimeout: "30 seconds"
} as const satisfies Omit<Options, "service">

/**
 * The preset a user would expect for a remote service: a 2 minute total
 * timeout, 5 attempts with jittered backoff and Retry-After, a Finagle retry
 * budget, a circuit breaker (5 consecutive failures, 60 s), a shared Retry-After
 * gate and a 30 s attempt timeout. `overrides` replace a layer's options whole;
 * `false` removes a layer; a rate limiter, adaptive limiter or bulkhead is added
 * by naming it.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const standard = (
  service: string,
  overrides: Omit<Options, "service"> = {}
): Effect.Effect<Policy, InvalidPolicy> => make({ ...standardDefaults, ...overrides, service })
