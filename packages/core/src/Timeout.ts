/**
 * Timeouts with typed, distinct failures:
 *
 * - {@link attempt}: one call may take at most `after`; past it, the call is
 *   interrupted and fails with {@link AttemptTimedOut}, which is worth another
 *   try.
 * - {@link total}: everything inside (every attempt and every retry sleep) must
 *   end within `after`; past it, the work is interrupted and fails with
 *   {@link DeadlineExceeded}, which is not. While it runs, the deadline is
 *   readable from {@link currentDeadline} and {@link remaining}, so a retry can
 *   decline a sleep that would end past it.
 *
 * The call is interrupted at the deadline and the caller gets the failure once
 * the interruption has finished, as with `Effect.timeout`. Unlike
 * `Effect.timeout`, which forks a fiber for the call and another for the timer
 * on every call, an instance shares one timer fiber between its calls
 * (stopped soon after the last one ends) and forks only the call, started at
 * once on the caller's thread: a call that ends without suspending needs no
 * timer at all. When an enclosing deadline comes first, no timer is set at
 * all either: the enclosing one fires first anyway.
 *
 * A total timeout's `bound` ({@link Bounds}) sets the deadline without forking
 * at all and leaves enforcing it to the attempt timeout inside, which then
 * fails with the total's {@link DeadlineExceeded} when the deadline comes first:
 * one fork per attempt for both timeouts. `Policy` composes them so.
 *
 * ```ts
 * const perCall = yield* Timeout.attempt("30 seconds", { service: "llm" })
 * const overall = yield* Timeout.total("2 minutes", { service: "llm" })
 * const answer = yield* complete(prompt).pipe(perCall.protect, Retry.retry(policy), overall.protect)
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type { InvalidPolicy } from "./Errors.js"
import { Watchdog, type Watched } from "./internal/timeoutWatchdog.js"
import { checker } from "./internal/validate.js"
import * as Metrics from "./Metrics.js"

/**
 * One attempt took longer than `after` and was interrupted. Retryable.
 *
 * @since 0.1.0
 * @category Errors
 */
export class AttemptTimedOut extends Schema.TaggedError<AttemptTimedOut>()("AttemptTimedOut", {
  service: Schema.String,
  after: Schema.DurationFromMillis
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `attempt on ${this.service} timed out after ${Duration.format(this.after)}`
  }
}

/**
 * The total deadline passed: the work was interrupted. Not retryable: there is
 * no time left to retry in.
 *
 * @since 0.1.0
 * @category Errors
 */
export class DeadlineExceeded extends Schema.TaggedError<DeadlineExceeded>()("DeadlineExceeded", {
  service: Schema.String,
  after: Schema.DurationFromMillis
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `deadline for ${this.service} exceeded after ${Duration.format(this.after)}`
  }
}

/**
 * @since 0.1.0
 * @category Models
 */
export type Kind = "attempt" | "total"

/**
 * The failure of each kind.
 *
 * @since 0.1.0
 * @category Models
 */
export type Rejection<K extends Kind> = K extends "attempt" ? AttemptTimedOut : DeadlineExceeded

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Names the timeout in errors and metrics. Default `"timeout"`. */
  readonly service?: string | undefined
}

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  service: "timeout"
} as const

/**
 * @since 0.1.0
 * @category Models
 */
export interface Timeout<K extends Kind> {
  readonly kind: K
  readonly service: string
  /** The timeout; infinite means none. */
  readonly after: Duration.Duration
  /** Runs `self`, interrupting it when the time is up. */
  readonly protect: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Rejection<K>, R>
}

/**
 * The deadline of the innermost {@link total} running, in epoch milliseconds of
 * Effect's `Clock`. Set by `total`'s `protect`, which also enforces it, or its
 * `bound`, which leaves that to an attempt timeout inside; a retry reads it to
 * decline a sleep that would end past it, and a gate, rate limiter or queue to
 * not wait past it.
 *
 * @since 0.1.0
 * @category Deadline
 */
export const currentDeadline: FiberRef.FiberRef<Option.Option<number>> = globalValue(
  Symbol.for("@bulwark/core/Timeout/currentDeadline"),
  () => FiberRef.unsafeMake<Option.Option<number>>(Option.none())
)

/**
 * Time left until {@link currentDeadline} (zero once it has passed); none
 * outside any {@link total}.
 *
 * @since 0.1.0
 * @category Deadline
 */
export const remaining: Effect.Effect<Option.Option<Duration.Duration>> = Effect.flatMap(
  FiberRef.get(currentDeadline),
  (deadline) =>
    deadline._tag === "None"
      ? Effect.succeedNone
      : Effect.map(Clock.currentTimeMillis, (now) => Option.some(Duration.millis(Math.max(0, deadline.value - now))))
)

const make = <K extends Kind>(
  kind: K,
  after: Duration.DurationInput,
  options: Options
): Effect.Effect<Timeout<K> & Bounds, InvalidPolicy> => {
  const check = checker(kind === "attempt" ? "attempt-timeout" : "total-timeout")
  return Effect.flatMap(
    Either.gen(function*() {
      const service = yield* check.service("service", options.service ?? defaults.service)
      const millis = yield* check.millis("after", after, { infinite: true })
      if (millis === 0) return yield* check.refuse("after", after, "a duration > 0")
      return { service, millis }
    }),
    ({ millis, service }) => Effect.sync(() => build(kind, service, millis))
  )
}

/** Who set a value of {@link currentDeadline}. */
interface Owner {
  /** How the deadline fails. */
  readonly fail: Effect.Effect<never, DeadlineExceeded>
  /** Whether a fiber of the owner's enforces it (`protect`), or an attempt inside must (`bound`). */
  readonly enforced: boolean
}

/**
 * The owners of the deadlines set by this module, keyed by the very value of
 * {@link currentDeadline}: the innermost deadline is unenforced exactly when a
 * `bound` set it. (A second FiberRef would cost each call two more FiberRef
 * updates, each a copy of the fiber's FiberRefs.)
 */
const owners = globalValue(
  Symbol.for("@bulwark/core/Timeout/owners"),
  () => new WeakMap<Option.Option<number>, Owner>()
)

/**
 * What a wait that would end past the innermost {@link total}'s deadline fails
 * with at once, instead of sleeping into it: that timeout's
 * {@link DeadlineExceeded}. `undefined` when `deadline` (a value of
 * {@link currentDeadline}) was not set by a `Timeout`.
 *
 * @since 0.1.0
 * @category Deadline
 */
export const exceeded = (deadline: Option.Option<number>): Effect.Effect<never, DeadlineExceeded> | undefined =>
  owners.get(deadline)?.fail

/**
 * The time a wait outside the attempt may take before the deadline that an
 * enclosing `bound` left to be enforced, and the failure to fail with when the
 * wait would cross it; `undefined` when no such deadline applies.
 *
 * @internal
 */
export const remainingBound = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  now: number
): { readonly millis: number; readonly fail: Effect.Effect<never, never> } | undefined => {
  const deadline = fiber.getFiberRef(currentDeadline)
  const fail = exceeded(deadline)
  // The total's own type carries its DeadlineExceeded, as it would after an interruption at the deadline.
  return fail === undefined
    ? undefined
    : { millis: Option.getOrThrow(deadline) - now, fail: fail as Effect.Effect<never, never> }
}

/**
 * Runs `self` in a fiber of its own until `millis` from now, or until an
 * earlier deadline that an enclosing `bound` left to be enforced here (failing
 * as that one does). An earlier deadline enforced elsewhere (a forking
 * `total`) needs no timer of its own: it fires first anyway.
 */
const guarded = <X>(
  millis: number,
  fail: Effect.Effect<never, X>,
  watchdog: Watchdog,
  owner?: Owner
) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | X | DeadlineExceeded, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<A, E | X | DeadlineExceeded, R>((parent, status) => {
      const clock = Context.get(parent.currentDefaultServices, Clock.Clock)
      let deadline = clock.unsafeCurrentTimeMillis() + millis
      let onTimeout: Effect.Effect<never, X | DeadlineExceeded> = fail
      const enclosing = parent.getFiberRef(currentDeadline)
      if (enclosing._tag === "Some" && enclosing.value <= deadline) {
        const owner = owners.get(enclosing)
        if (owner === undefined || owner.enforced) return restore(self)
        deadline = enclosing.value
        onTimeout = owner.fail
      } else if (!Number.isFinite(deadline)) {
        return restore(self)
      }
      let call = self
      if (owner !== undefined) {
        const value = Option.some(deadline)
        owners.set(value, owner)
        call = Effect.locally(self, currentDeadline, value)
      }
      // Started at once, on this thread, as `Effect.runFork` does, rather than on the scheduler's next
      // tick as `Effect.fork` does: a call that completes without suspending (a cache hit, a failure
      // found at once) needs no timer and no hop back, and one that suspends starts its I/O sooner.
      const fiber = Runtime.runFork(
        Runtime.make({
          context: parent.getFiberRef(FiberRef.currentContext) as Context.Context<R>,
          fiberRefs: parent.getFiberRefs(),
          runtimeFlags: status.runtimeFlags
        }),
        restore(call)
      )
      const done = fiber.unsafePoll()
      if (done !== null) return Exit.isSuccess(done) ? Effect.zipRight(fiber.inheritAll, done) : done
      const entry: Watched = { deadline, fiber, state: "running" }
      const start = watchdog.watch(entry, parent.currentScheduler)
      const awaited = restore(Effect.async<A, E | X | DeadlineExceeded>((resume) => {
        fiber.addObserver((exit) => {
          const timedOut = entry.state === "timed-out"
          // Resumed before the watchdog hears of it: the caller's next call can then reuse its timer.
          if (Exit.isSuccess(exit)) resume(Effect.zipRight(fiber.inheritAll, exit))
          // A finalizer failing during the interruption does not change what happened: the time was up.
          else resume(timedOut && Cause.isInterrupted(exit.cause) ? onTimeout : exit)
          watchdog.finished(entry)
        })
        // Interrupted from outside: stop the call ourselves and wait for it to end.
        return Effect.zipRight(Effect.sync(() => watchdog.finished(entry)), Fiber.interrupt(fiber))
      }))
      return start === undefined
        ? awaited
        : Effect.zipRight(Effect.forkDaemon(Effect.interruptible(start)), awaited)
    })
  )

const build = <K extends Kind>(kind: K, service: string, millis: number): Timeout<K> & Bounds => {
  const after = Duration.millis(millis)
  const base = { kind, service, after }
  const enforce: Bounds["enforce"] = guarded(Infinity, Effect.never, new Watchdog())
  // No timeout of its own, but still the enforcer of an enclosing `bound`.
  // (Its DeadlineExceeded arises only under a `bound`, whose caller's type includes it, as Policy's does.)
  if (!Number.isFinite(millis)) {
    return {
      ...base,
      protect: enforce as Timeout<K>["protect"],
      bound: (self) => self,
      enforce
    }
  }
  const counter = Metric.tagged(Metric.tagged(Metrics.timeouts, "service", service), "kind", kind)
  const error = kind === "attempt" ? new AttemptTimedOut({ service, after }) : new DeadlineExceeded({ service, after })
  const fail = Effect.suspend(() => {
    counter.unsafeUpdate(1, [])
    return Effect.fail(error as Rejection<K>)
  })
  const deadlineFail = fail as Effect.Effect<never, DeadlineExceeded>
  const protect = guarded(
    millis,
    fail,
    new Watchdog(),
    kind === "total" ? { fail: deadlineFail, enforced: true } : undefined
  ) as Timeout<K>["protect"]
  const unenforced: Owner = { fail: deadlineFail, enforced: false }
  const bound: Bounds["bound"] = (self) =>
    Effect.withFiberRuntime((parent) => {
      const deadline = Context.get(parent.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis() + millis
      const enclosing = parent.getFiberRef(currentDeadline)
      if (enclosing._tag === "Some" && enclosing.value <= deadline) return self
      const deadlineRef = Option.some(deadline)
      owners.set(deadlineRef, unenforced)
      // As `Effect.locally`, at a fraction of its cost. The restore must run on interruption too:
      // finalizers often call through the very limiters and retries that read the deadline.
      const restore = FiberRef.set(currentDeadline, enclosing)
      return Effect.uninterruptibleMask((interruptible) =>
        Effect.zipRight(
          FiberRef.set(currentDeadline, deadlineRef),
          Effect.matchCauseEffect(interruptible(self), {
            onSuccess: (a) => Effect.as(restore, a),
            onFailure: (cause) => Effect.zipRight(restore, Effect.failCause(cause))
          })
        )
      )
    })
  return { ...base, protect, bound, enforce }
}

/**
 * The fork-free form of a {@link total} timeout, for a composition whose every
 * wait honours {@link currentDeadline} (as `Policy` does): `bound` only sets
 * the deadline, and the one fiber of each attempt enforces it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Bounds {
  /**
   * Sets {@link currentDeadline} for `self` (the earlier one wins, as with
   * `protect`) without a fiber or a timer: the deadline is enforced by a
   * {@link attempt} timeout inside, which fails with this timeout's
   * {@link DeadlineExceeded} when the deadline comes before its own, or by
   * `enforce`. Sleeps and queues inside must honour the deadline themselves:
   * a Bulwark retry, rate limiter, Retry-After gate, bulkhead and adaptive
   * limiter do.
   */
  readonly bound: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /**
   * Runs `self` in a fiber of its own until the deadline an enclosing `bound`
   * set, failing with {@link DeadlineExceeded} past it: what enforces the
   * deadline when there is no attempt timeout. Outside any `bound`, `self` as is.
   */
  readonly enforce: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | DeadlineExceeded, R>
}

/**
 * A per-attempt timeout: `self` may run for at most `after` (> 0; infinite
 * means none), else it is interrupted and fails with {@link AttemptTimedOut}.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const attempt = (
  after: Duration.DurationInput,
  options: Options = {}
): Effect.Effect<Timeout<"attempt">, InvalidPolicy> => make("attempt", after, options)

/**
 * A total timeout (a deadline): everything inside, retries and their sleeps
 * included, must end within `after` (> 0; infinite means none), else it is
 * interrupted and fails with {@link DeadlineExceeded}. Sets
 * {@link currentDeadline} for its scope; nested inside another `total`, the
 * earlier deadline wins.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const total = (
  after: Duration.DurationInput,
  options: Options = {}
): Effect.Effect<Timeout<"total"> & Bounds, InvalidPolicy> => make("total", after, options)
