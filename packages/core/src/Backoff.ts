/**
 * Backoff delays as Effect `Schedule`s: they compose with every combinator of
 * `effect/Schedule` and drive `Effect.retry` as well as Bulwark's {@link Retry}.
 * Each schedule outputs the delay it chose. Randomness comes from Effect's
 * `Random`, so a seeded `Random` makes jitter reproducible.
 *
 * Jitter follows AWS's "Exponential Backoff and Jitter", with
 * `raw = min(maxDelay, base × factor^n)` for the n-th retry (n from 0):
 * - `none`: raw
 * - `full`: random in [0, raw)
 * - `equal`: raw / 2 + random in [0, raw / 2)
 * - `decorrelated`: min(maxDelay, random in [base, previous × 3)), previous starting at base
 *
 * Delays are whole milliseconds, rounded down, so they never exceed `maxDelay`.
 * Constructors validate their options and return `Either<Schedule, InvalidPolicy>`,
 * which is yieldable in `Effect.gen`.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Interval from "effect/ScheduleInterval"
import type { InvalidPolicy } from "./Errors.js"
import { checker } from "./internal/validate.js"

/**
 * @since 0.1.0
 * @category Models
 */
export type Jitter = "none" | "full" | "equal" | "decorrelated"

/**
 * @since 0.1.0
 * @category Models
 */
export const jitters: ReadonlyArray<Jitter> = ["none", "full", "equal", "decorrelated"]

/**
 * A backoff schedule: its output is the delay before the next try.
 *
 * @since 0.1.0
 * @category Models
 */
export type Backoff = Schedule.Schedule<Duration.Duration>

/**
 * @since 0.1.0
 * @category Options
 */
export interface ExponentialOptions {
  /** The first delay before jitter. Required. */
  readonly base: Duration.DurationInput
  /** Growth per retry; ≥ 1. Default 2. Not used by `decorrelated`, which grows by 3 as AWS defines it. */
  readonly factor?: number | undefined
  /** Cap on every delay. Default: none. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** Default `"none"`. */
  readonly jitter?: Jitter | undefined
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface LinearOptions {
  /** The first delay before jitter. Required. */
  readonly base: Duration.DurationInput
  /** Added per retry. Default: `base`. */
  readonly step?: Duration.DurationInput | undefined
  /** Cap on every delay. Default: none. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** Default `"none"`. `decorrelated` is exponential by definition and is refused here. */
  readonly jitter?: Exclude<Jitter, "decorrelated"> | undefined
}

/**
 * The delay in milliseconds for retry number `attempt` (from 0), given the
 * previous delay and a uniform random number in [0, 1).
 *
 * @since 0.1.0
 * @category Models
 */
export type Step = (attempt: number, previous: number, random: number) => number

const check = checker("backoff")

/**
 * Applies a jitter mode to a raw delay. `decorrelated` needs the previous delay.
 *
 * @since 0.1.0
 * @category Jitter
 */
export const jittered = (
  jitter: Jitter,
  raw: number,
  random: number,
  decorrelated: { readonly base: number; readonly previous: number; readonly cap: number }
): number => {
  switch (jitter) {
    case "none":
      return Math.floor(raw)
    case "full":
      return Math.floor(random * raw)
    case "equal":
      return Math.floor(raw / 2 + random * (raw / 2))
    case "decorrelated": {
      const { base, cap, previous } = decorrelated
      const upper = Math.max(base, previous * 3)
      return Math.floor(Math.min(cap, base + random * (upper - base)))
    }
  }
}

/**
 * A schedule from a step function; draws a random number only when `random` is set.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromStep = (step: Step, options: { readonly random: boolean; readonly initial: number }): Backoff =>
  Schedule.makeWithState<readonly [attempt: number, previous: number], unknown, Duration.Duration>(
    [0, options.initial],
    (now, _, [attempt, previous]) => {
      const decide = (random: number) => {
        const delay = step(attempt, previous, random)
        return [
          [attempt + 1, delay] as const,
          Duration.millis(delay),
          ScheduleDecision.continueWith(Interval.after(now + delay))
        ] as const
      }
      return options.random ? Effect.map(Random.next, decide) : Effect.sync(() => decide(0))
    }
  )

const ordered = (base: number, cap: number): Either.Either<void, InvalidPolicy> =>
  base <= cap ? Either.void : check.refuse("maxDelay", cap, `a duration ≥ base (${base} ms)`)

/**
 * `base × factor^n`, capped at `maxDelay`, with jitter.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const exponential = (options: ExponentialOptions): Either.Either<Backoff, InvalidPolicy> =>
  Either.gen(function*() {
    const base = yield* check.millis("base", options.base)
    const factor = yield* check.number("factor", options.factor ?? 2, { min: 1 })
    const cap = yield* check.millis("maxDelay", options.maxDelay ?? Infinity, { infinite: true })
    yield* ordered(base, cap)
    const jitter = yield* check.oneOf("jitter", options.jitter ?? "none", jitters)
    return exponentialUnsafe({ base, factor, cap, jitter })
  })

/**
 * {@link exponential} over options already validated, in milliseconds.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const exponentialUnsafe = (
  options: { readonly base: number; readonly factor: number; readonly cap: number; readonly jitter: Jitter }
): Backoff => {
  const { base, cap, factor, jitter } = options
  return fromStep(
    (attempt, previous, random) =>
      jittered(jitter, Math.min(cap, base * factor ** attempt), random, { base, previous, cap }),
    { random: jitter !== "none", initial: base }
  )
}

/**
 * `base + step × n`, capped at `maxDelay`, with jitter.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const linear = (options: LinearOptions): Either.Either<Backoff, InvalidPolicy> =>
  Either.gen(function*() {
    const base = yield* check.millis("base", options.base)
    const increment = yield* check.millis("step", options.step ?? options.base)
    const cap = yield* check.millis("maxDelay", options.maxDelay ?? Infinity, { infinite: true })
    yield* ordered(base, cap)
    const jitter = yield* check.oneOf("jitter", options.jitter ?? "none", ["none", "full", "equal"] as const)
    return fromStep(
      (attempt, previous, random) =>
        jittered(jitter, Math.min(cap, base + increment * attempt), random, { base, previous, cap }),
      { random: jitter !== "none", initial: base }
    )
  })

/**
 * The same delay every time.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const constant = (delay: Duration.DurationInput): Either.Either<Backoff, InvalidPolicy> =>
  Either.map(check.millis("delay", delay), (millis) => fromStep(() => millis, { random: false, initial: millis }))
