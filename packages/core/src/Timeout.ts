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
 * on every call, an instance shares one timer fiber between its concurrent
 * calls (stopped when the last one ends) and forks only the call. When an
 * enclosing deadline comes first, no timer is set at all: the enclosing one
 * fires first anyway.
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
 * Effect's `Clock`. Set only by `total`, which also enforces it; a retry reads
 * it to decline a sleep that would end past it.
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
): Effect.Effect<Timeout<K>, InvalidPolicy> => {
  const check = checker(kind === "attempt" ? "attempt-timeout" : "total-timeout")
  return Effect.flatMap(
    Either.gen(function*() {
      const service = options.service ?? defaults.service
      if (typeof service !== "string" || service.length === 0) {
        return yield* check.refuse("service", service, "a non-empty string")
      }
      const millis = yield* check.millis("after", after, { infinite: true })
      if (millis === 0) return yield* check.refuse("after", after, "a duration > 0")
      return { service, millis }
    }),
    ({ millis, service }) => Effect.sync(() => build(kind, service, millis))
  )
}

const build = <K extends Kind>(kind: K, service: string, millis: number): Timeout<K> => {
  const after = Duration.millis(millis)
  const base = { kind, service, after }
  if (!Number.isFinite(millis)) return { ...base, protect: (self) => self }
  const counter = Metric.tagged(Metric.tagged(Metrics.timeouts, "service", service), "kind", kind)
  const error = kind === "attempt" ? new AttemptTimedOut({ service, after }) : new DeadlineExceeded({ service, after })
  const fail = Effect.suspend(() => {
    counter.unsafeUpdate(1, [])
    return Effect.fail(error as Rejection<K>)
  })
  const watchdog = new Watchdog()

  const protect = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | Rejection<K>, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.withFiberRuntime<A, E | Rejection<K>, R>((parent) => {
        const clock = Context.get(parent.currentDefaultServices, Clock.Clock)
        const deadline = clock.unsafeCurrentTimeMillis() + millis
        const enclosing = parent.getFiberRef(currentDeadline)
        // An enclosing deadline that comes first fires first: no timer of our own.
        if (enclosing._tag === "Some" && enclosing.value <= deadline) return restore(self)
        const call = kind === "total" ? Effect.locally(self, currentDeadline, Option.some(deadline)) : self
        return Effect.flatMap(Effect.fork(restore(call)), (fiber) => {
          const entry: Watched = { deadline, fiber, state: "running" }
          const start = watchdog.watch(entry)
          const awaited = restore(Effect.async<A, E | Rejection<K>>((resume) => {
            fiber.addObserver((exit) => {
              const timedOut = entry.state === "timed-out"
              watchdog.finished(entry)
              if (Exit.isSuccess(exit)) resume(Effect.zipRight(fiber.inheritAll, exit))
              // A finalizer failing during the interruption does not change what happened: the time was up.
              else resume(timedOut && Cause.isInterrupted(exit.cause) ? fail : exit)
            })
            // Interrupted from outside: stop the call ourselves and wait for it to end.
            return Effect.zipRight(Effect.sync(() => watchdog.finished(entry)), Fiber.interrupt(fiber))
          }))
          return start === undefined
            ? awaited
            : Effect.zipRight(Effect.forkDaemon(Effect.interruptible(start)), awaited)
        })
      })
    )

  return { ...base, protect }
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
): Effect.Effect<Timeout<"total">, InvalidPolicy> => make("total", after, options)
