/**
 * A circuit breaker whose state lives in a `Ref`: `effect.pipe(breaker.protect)`.
 *
 * CLOSED lets every call through and feeds the outcomes to its trip strategies;
 * when one of them trips, the breaker goes OPEN and fails calls at once with
 * {@link CircuitOpen}, whose `retryAfter` is the time left. There are no timers:
 * the first call after the open period (read from Effect's `Clock`) turns the
 * breaker HALF_OPEN and goes through as a probe. `successThreshold` probe
 * successes close it; any probe failure opens it again, for the next delay of the
 * open-duration schedule. ISOLATED holds it open by hand until every handle is
 * released.
 *
 * On the happy path a protected call costs one `Ref` read before the call and
 * one `Ref.modify` after it: no fiber, no timer, no semaphore.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { InvalidPolicy } from "./Errors.js"
import { config as readConfig } from "./internal/breakerConfig.js"
import { build } from "./internal/breakerInstance.js"
import { configKeys as internalKeys, defaults as internalDefaults } from "./internal/breakerKeys.js"
import type { Reason as MachineReason, State as MachineState } from "./internal/breakerMachine.js"
import { validate } from "./internal/breakerSettings.js"
import type { Tracker } from "./internal/breakerTracker.js"
import { TrackerSnapshot } from "./internal/breakerTracker.js"

/**
 * @since 0.1.0
 * @category Type IDs
 */
export const TypeId: unique symbol = Symbol.for("@bulwark/core/CircuitBreaker")

/**
 * @since 0.1.0
 * @category Type IDs
 */
export type TypeId = typeof TypeId

/**
 * As the seeds print it: `CLOSED`, `OPEN`, `HALF_OPEN`, plus `ISOLATED` (held open by hand).
 *
 * @since 0.1.0
 * @category Models
 */
export type State = MachineState

/**
 * Opens after `threshold` counted failures in a row (seeds 003 and 004: 5).
 *
 * @since 0.1.0
 * @category Trip strategies
 */
export interface ConsecutiveFailures {
  readonly _tag: "ConsecutiveFailures"
  /** An integer ≥ 1. Default 5. */
  readonly threshold?: number | undefined
}

/**
 * The window a ratio is measured over: the last `size` calls (the default), or,
 * when `duration` is given, the calls of the last `duration`.
 *
 * @since 0.1.0
 * @category Trip strategies
 */
export interface WindowOptions {
  /** Count window: how many recent calls; an integer in [1, 10000]. Default 100. */
  readonly size?: number | undefined
  /** Count window: calls needed before the ratio is looked at; in [1, size]. Default `size`. */
  readonly minimumCalls?: number | undefined
  /** Time window: its length, > 0. Giving it makes the window a time window. */
  readonly duration?: Duration.DurationInput | undefined
  /** Time window: calls in the window needed before the ratio is looked at; ≥ 1. Default 100. */
  readonly minimumThroughput?: number | undefined
  /** Time window: how many slices it is cut into; an integer in [1, 1000]. Default 10. */
  readonly buckets?: number | undefined
}

/**
 * Opens when `failures / calls ≥ ratio` over the window, once the window holds
 * enough calls.
 *
 * @since 0.1.0
 * @category Trip strategies
 */
export interface FailureRatio extends WindowOptions {
  readonly _tag: "FailureRatio"
  /** In (0, 1]. Default 0.5. */
  readonly ratio?: number | undefined
}

/**
 * Opens when the share of calls slower than `threshold` (failed or not) reaches
 * `ratio` over the window; while half-open, a probe that slow counts as failed.
 *
 * @since 0.1.0
 * @category Trip strategies
 */
export interface SlowCalls extends WindowOptions {
  readonly _tag: "SlowCalls"
  /** A call longer than this is slow; ≥ 0. Default 60 seconds. */
  readonly threshold?: Duration.DurationInput | undefined
  /** In (0, 1]. Default 1 (every call in the window slow). */
  readonly ratio?: number | undefined
}

/**
 * @since 0.1.0
 * @category Trip strategies
 */
export type Trip = ConsecutiveFailures | FailureRatio | SlowCalls

/**
 * @since 0.1.0
 * @category Trip strategies
 */
export const consecutiveFailures = (threshold?: number): ConsecutiveFailures => ({
  _tag: "ConsecutiveFailures",
  threshold
})

/**
 * `failureRatio({ ratio: 0.5, size: 20, minimumCalls: 10 })` (the last 20 calls) or
 * `failureRatio({ ratio: 0.5, duration: "30 seconds", minimumThroughput: 20 })`.
 *
 * @since 0.1.0
 * @category Trip strategies
 */
export const failureRatio = (options: Omit<FailureRatio, "_tag"> = {}): FailureRatio => ({
  ...options,
  _tag: "FailureRatio"
})

/**
 * `slowCalls({ threshold: "10 seconds", ratio: 0.8, size: 20 })`.
 *
 * @since 0.1.0
 * @category Trip strategies
 */
export const slowCalls = (options: Omit<SlowCalls, "_tag"> = {}): SlowCalls => ({ ...options, _tag: "SlowCalls" })

/**
 * Every option, with its default.
 *
 * @since 0.1.0
 * @category Options
 */
export interface Options<in E = unknown> {
  /** When to open; several strategies open on the first that trips. Default `consecutiveFailures(5)`. */
  readonly trip?: Trip | ReadonlyArray<Trip> | undefined
  /**
   * How long the breaker stays open: a duration (default 60 seconds), or a
   * `Schedule` stepped on each opening since it last closed, so it backs off
   * while probes keep failing. When the schedule ends, its last delay repeats.
   */
  readonly openDuration?: Duration.DurationInput | Schedule.Schedule<unknown> | undefined
  /** Probe calls in flight at once while half-open; an integer ≥ 1. Default 1. */
  readonly maxProbes?: number | undefined
  /** Probe successes that close the breaker; an integer ≥ 1. Default 2 (seed 004). */
  readonly successThreshold?: number | undefined
  /** `retryAfter` of a call refused because all probes are taken; ≥ 0. Default 1 second. */
  readonly halfOpenRetryAfter?: Duration.DurationInput | undefined
  /**
   * Which typed failures count against the service; others pass through and
   * count neither way. Defects always count, interruptions never do.
   * Default `Classify.isServiceFailure`: the transient families and timeouts,
   * but not a 404 `Rejected`, nor the refusals of Bulwark's own policies
   * (an inner bulkhead's `BulkheadFull` says nothing about the service).
   */
  readonly isFailure?: ((error: E) => boolean) | undefined
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface MakeOptions<in E = unknown> extends Options<E> {
  /** Names the breaker in errors, logs and the metrics' `service` tag. */
  readonly service: string
  /** State saved by {@link CircuitBreaker.snapshot} to start from. */
  readonly restore?: Snapshot | undefined
}

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = internalDefaults

/**
 * Validated options.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Settings<in E = unknown> {
  /** Every strategy with its defaults filled in; durations in milliseconds. */
  readonly trip: ReadonlyArray<Trip>
  /** Milliseconds, or the schedule. */
  readonly openDuration: number | Schedule.Schedule<unknown>
  readonly maxProbes: number
  readonly successThreshold: number
  readonly halfOpenRetryAfterMillis: number
  readonly isFailure: (error: E) => boolean
  /** @internal */
  readonly trackers: ReadonlyArray<Tracker>
}

/**
 * Validates options. The result is an `Either`, yieldable in `Effect.gen`. An
 * `openDuration` schedule that ends at once is refused later, by {@link fromSettings}:
 * telling needs a step of the schedule, an effect.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const settings = <E = unknown>(options?: Options<E>): Either.Either<Settings<E>, InvalidPolicy> =>
  validate(options)

/**
 * The breaker refused the call: it is open, or half-open with every probe
 * taken (then `retryAfter` is `halfOpenRetryAfter`).
 *
 * @since 0.1.0
 * @category Errors
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>()("CircuitOpen", {
  service: Schema.String,
  state: Schema.Literal("OPEN", "HALF_OPEN"),
  /** How long until the breaker lets a probe through. */
  retryAfter: Schema.optional(Schema.DurationFromMillis)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    const why = this.state === "HALF_OPEN" ? " (half-open, probes in flight)" : ""
    const hint = this.retryAfter === undefined ? "" : `; retry after ${Duration.format(this.retryAfter)}`
    return `Circuit breaker open for ${this.service}${why}${hint}`
  }
}

/**
 * The breaker is held open by hand ({@link CircuitBreaker.isolate}); no retry
 * time is known.
 *
 * @since 0.1.0
 * @category Errors
 */
export class CircuitIsolated extends Schema.TaggedError<CircuitIsolated>()("CircuitIsolated", {
  service: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `Circuit breaker isolated for ${this.service}`
  }
}

/**
 * @since 0.1.0
 * @category Errors
 */
export type Rejection = CircuitOpen | CircuitIsolated

/**
 * What a /heartbeat page shows, with the fields of seeds 003 and 004. Times are
 * epoch milliseconds from Effect's `Clock`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Stats {
  readonly service: string
  readonly state: State
  /** Counted failures since the last success. */
  readonly consecutiveFailures: number
  /** Counted failures since the breaker last closed. */
  readonly failureCount: number
  /** While OPEN, the time left (0 once elapsed: the next call probes); otherwise undefined. */
  readonly secondsUntilRetry: number | undefined
  readonly lastFailureTime: number | undefined
  readonly lastSuccessTime: number | undefined
  /** Openings since the breaker last closed (the open-duration schedule's step). */
  readonly openings: number
  readonly probesInFlight: number
  readonly probeSuccesses: number
  /** Isolation handles not yet released. */
  readonly isolations: number
}

/**
 * Why a breaker changed state.
 *
 * @since 0.1.0
 * @category Models
 */
export type Reason = MachineReason

/**
 * One state change, as published on {@link CircuitBreaker.changes}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface StateChange {
  readonly service: string
  readonly from: State
  readonly to: State
  readonly reason: Reason
  /** What the log line says in parentheses: "failures: 5", "probe failed", "reset". */
  readonly detail: string | undefined
  /** Epoch milliseconds. */
  readonly at: number
  /** When it opened: for how long. */
  readonly openFor: Duration.Duration | undefined
}

/**
 * A breaker's state, JSON-serialisable: save it with `Schema.encode(Snapshot)`
 * and start from it with `make({ ..., restore })`. Isolation is not saved: it
 * belongs to handles of the running process. A HALF_OPEN breaker is restored
 * OPEN with its open period over, so the next call probes; an OPEN one keeps its
 * absolute end time, so a restart neither shortens nor lengthens it.
 *
 * @since 0.1.0
 * @category Snapshots
 */
export const Snapshot = Schema.Struct({
  service: Schema.String,
  /** Epoch milliseconds. */
  takenAt: Schema.Number,
  state: Schema.Literal("CLOSED", "OPEN", "HALF_OPEN"),
  openUntil: Schema.optional(Schema.Number),
  openings: Schema.NonNegativeInt,
  consecutiveFailures: Schema.NonNegativeInt,
  failureCount: Schema.NonNegativeInt,
  lastFailureTime: Schema.optional(Schema.Number),
  lastSuccessTime: Schema.optional(Schema.Number),
  /** One per trip strategy, in order; kept on restore only where the strategy's shape is unchanged. */
  trackers: Schema.Array(TrackerSnapshot)
})

/**
 * @since 0.1.0
 * @category Snapshots
 */
export type Snapshot = typeof Snapshot.Type

/**
 * A running breaker.
 *
 * @since 0.1.0
 * @category Models
 */
export interface CircuitBreaker<in E = unknown> {
  readonly [TypeId]: TypeId
  readonly service: string
  readonly settings: Settings<E>
  /** Runs `self` if the breaker lets it through, and records how it ended. */
  readonly protect: <A, E2 extends E, R>(self: Effect.Effect<A, E2, R>) => Effect.Effect<A, E2 | Rejection, R>
  readonly state: Effect.Effect<State>
  readonly stats: Effect.Effect<Stats>
  /** State changes, from the moment the stream starts running. */
  readonly changes: Stream.Stream<StateChange>
  /** Subscribes now, so no change made after this effect is missed; the stream ends with the scope. */
  readonly subscribe: Effect.Effect<Stream.Stream<StateChange>, never, Scope.Scope>
  /**
   * Holds the breaker open by hand and returns the handle's release (idempotent).
   * Handles are counted: the breaker closes when the last one is released.
   */
  readonly isolate: Effect.Effect<Effect.Effect<void>>
  /** {@link isolate} for the lifetime of a scope. */
  readonly isolateScoped: Effect.Effect<void, never, Scope.Scope>
  /** Forces the breaker CLOSED with clean counters; outstanding isolation handles no longer count. */
  readonly reset: Effect.Effect<void>
  readonly snapshot: Effect.Effect<Snapshot>
}

/**
 * Builds a breaker, validating its options.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <E = unknown>(options: MakeOptions<E>): Effect.Effect<CircuitBreaker<E>, InvalidPolicy> =>
  Either.match(validate(options), {
    onLeft: Effect.fail,
    onRight: (settings) => fromSettings(settings, options)
  })

/**
 * Builds a breaker from settings already validated (by {@link settings} or
 * {@link config}). Fails on an empty service name, a snapshot of another service,
 * or an `openDuration` schedule that ends at once.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromSettings = <E>(
  settings: Settings<E>,
  options: { readonly service: string; readonly restore?: Snapshot | undefined }
): Effect.Effect<CircuitBreaker<E>, InvalidPolicy> => build(settings, options)

/**
 * `effect.pipe(CircuitBreaker.protect(breaker))`, the same as `breaker.protect(effect)`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const protect: {
  <E2>(
    breaker: CircuitBreaker<E2>
  ): <A, E extends E2, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Rejection, R>
  <A, E extends E2, R, E2>(
    self: Effect.Effect<A, E, R>,
    breaker: CircuitBreaker<E2>
  ): Effect.Effect<A, E | Rejection, R>
} = dual(
  2,
  <A, E extends E2, R, E2>(self: Effect.Effect<A, E, R>, breaker: CircuitBreaker<E2>) => breaker.protect(self)
)

/**
 * The environment variables of a breaker, all optional, relative to any
 * `Config.nested` prefix. Durations read as "30 seconds", "500 millis". If any
 * trip variable is set, the trip strategies come from the environment alone:
 * `FAILURE_THRESHOLD` gives consecutive failures, `FAILURE_RATIO` a failure
 * ratio and `SLOW_CALL_DURATION` / `SLOW_CALL_RATIO` a slow-call ratio, each
 * over the window of `WINDOW_SIZE` + `MINIMUM_CALLS`, or `WINDOW_DURATION` +
 * `MINIMUM_THROUGHPUT` + `WINDOW_BUCKETS`.
 *
 * @since 0.1.0
 * @category Config
 */
export const configKeys = internalKeys

/**
 * Reads a breaker's settings from the environment over `defaults` (the user's,
 * then Bulwark's); an invalid value fails with a `ConfigError` naming the
 * variable.
 *
 * ```ts
 * const settings = yield* CircuitBreaker.config({ openDuration: "2 minutes" }).pipe(Config.nested("CIRCUIT_CLAUDE_API"))
 * ```
 *
 * @since 0.1.0
 * @category Config
 */
export const config = <E = unknown>(defaults: Options<E> = {}): Config.Config<Settings<E>> => readConfig(defaults)
