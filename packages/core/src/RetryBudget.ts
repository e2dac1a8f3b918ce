/**
 * A retry budget shared by every call to a service (Finagle's RetryBudget, gRPC
 * retry throttling). Each request deposits `ratio` of a token; each retry
 * withdraws one whole token; a reserve of `minRetriesPerSecond × ttl` tokens lets
 * a quiet service retry at all. Deposits and withdrawals expire after `ttl`.
 *
 * When the budget is empty, retries stop: under a total outage a service sees at
 * most `(1 + ratio) × requests + minRetriesPerSecond × seconds` calls, instead of
 * `maxAttempts × requests`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import type { InvalidPolicy } from "./Errors.js"
import { checker } from "./internal/validate.js"
import * as Metrics from "./Metrics.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface RetryBudget {
  readonly service: string
  /** Records an original request (not a retry). */
  readonly deposit: Effect.Effect<void>
  /** Takes one retry token if there is one; `false` means do not retry. */
  readonly tryWithdraw: Effect.Effect<boolean>
  /** Retries the budget would allow now. */
  readonly balance: Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Names the service in metrics. Default `"default"`. */
  readonly service?: string | undefined
  /** Retries allowed per request, in (0, 1]. Default 0.2 (Finagle). */
  readonly ratio?: number | undefined
  /** Retries allowed per second regardless of traffic, ≥ 0. Default 10 (Finagle). */
  readonly minRetriesPerSecond?: number | undefined
  /** How long deposits and withdrawals count. Default 10 seconds (Finagle). */
  readonly ttl?: string | number | undefined
}

/**
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = { service: "default", ratio: 0.2, minRetriesPerSecond: 10, ttl: "10 seconds" } as const

/** The window is kept in this many slices; a slice expires as a whole. */
const slices = 10

const check = checker("retry-budget")

/**
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<RetryBudget, InvalidPolicy> =>
  Effect.map(validate(options), ({ minRetriesPerSecond, ratio, service, ttlMillis }) => {
    const sliceMillis = ttlMillis / slices
    const reserve = minRetriesPerSecond * (ttlMillis / 1000)
    // A sliding window of `slices` counters. Every update happens inside one
    // synchronous block, so fibers cannot interleave; no copy per request.
    const deposits = new Float64Array(slices)
    const withdrawals = new Float64Array(slices)
    let current = 0
    let deposited = 0
    let withdrawn = 0
    const advance = (now: number) => {
      const slice = Math.floor(now / sliceMillis)
      if (slice <= current) return
      for (let s = Math.max(current + 1, slice - slices + 1); s <= slice; s++) {
        deposited -= deposits[s % slices]!
        withdrawn -= withdrawals[s % slices]!
        deposits[s % slices] = 0
        withdrawals[s % slices] = 0
      }
      current = slice
    }
    const balanceAt = (now: number) => {
      advance(now)
      return reserve + ratio * deposited - withdrawn
    }
    const balanceGauge = Metric.tagged(Metrics.retryBudgetBalance, "service", service)
    const exhausted = Metric.tagged(Metrics.retryBudgetExhausted, "service", service)

    const deposit = Effect.clockWith((clock) =>
      Effect.sync(() => {
        advance(clock.unsafeCurrentTimeMillis())
        deposits[current % slices]! += 1
        deposited += 1
      })
    )

    const tryWithdraw = Effect.clockWith((clock) =>
      Effect.suspend(() => {
        const balance = balanceAt(clock.unsafeCurrentTimeMillis())
        if (balance < 1) {
          return Effect.as(Effect.zipRight(Metric.set(balanceGauge, balance), Metric.increment(exhausted)), false)
        }
        withdrawals[current % slices]! += 1
        withdrawn += 1
        return Effect.as(Metric.set(balanceGauge, balance - 1), true)
      })
    )

    const balance = Effect.clockWith((clock) =>
      Effect.sync(() => Math.floor(balanceAt(clock.unsafeCurrentTimeMillis())))
    )

    return { service, deposit, tryWithdraw, balance }
  })

const validate = (options: Options) =>
  Either.gen(function*() {
    const service = yield* check.service("service", options.service ?? defaults.service)
    const ratio = yield* check.number("ratio", options.ratio ?? defaults.ratio, { min: 0 })
    if (ratio === 0 || ratio > 1) yield* check.refuse("ratio", ratio, "a number in (0, 1]")
    const minRetriesPerSecond = yield* check.number(
      "minRetriesPerSecond",
      options.minRetriesPerSecond ?? defaults.minRetriesPerSecond,
      { min: 0 }
    )
    const ttlMillis = yield* check.millis("ttl", options.ttl ?? defaults.ttl)
    if (ttlMillis < 1) yield* check.refuse("ttl", options.ttl, "a duration of at least 1 millisecond")
    return { service, ratio, minRetriesPerSecond, ttlMillis }
  })
