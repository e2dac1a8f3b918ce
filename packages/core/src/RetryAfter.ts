/**
 * Server delay hints. Any failure that carries `retryAfter: Duration` is read
 * structurally, so a user's own tagged error can ask for a delay too.
 *
 * - `floor` (default): wait max(hint, backoff): the server's minimum, our jitter on top.
 * - `override`: wait exactly the hint, or the backoff when there is none.
 * - `ignore`: the backoff only.
 *
 * A delay that honours a hint is never shorter than the hint: it is rounded up to
 * the next whole millisecond.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import { dual } from "effect/Function"
import * as Schedule from "effect/Schedule"

/**
 * @since 0.1.0
 * @category Models
 */
export type Mode = "floor" | "override" | "ignore"

/**
 * @since 0.1.0
 * @category Models
 */
export const modes: ReadonlyArray<Mode> = ["floor", "override", "ignore"]

/**
 * The delay hint a failure carries, if any.
 *
 * @since 0.1.0
 * @category Getters
 */
export const hint = (error: unknown): Duration.Duration | undefined => {
  if (typeof error !== "object" || error === null || !("retryAfter" in error)) return undefined
  const value = error.retryAfter
  return Duration.isDuration(value) && Duration.isFinite(value) ? value : undefined
}

/**
 * Whole milliseconds, rounded up, so a wait never ends before the hint does.
 *
 * @since 0.1.0
 * @category Getters
 */
export const ceilMillis = (duration: Duration.Duration): number => Math.ceil(Duration.toMillis(duration))

/**
 * The delay to wait, in milliseconds, given the backoff's delay and a hint.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const delayMillis = (mode: Mode, backoffMillis: number, retryAfter: Duration.Duration | undefined): number => {
  if (retryAfter === undefined || mode === "ignore") return backoffMillis
  const hinted = ceilMillis(retryAfter)
  return mode === "override" ? hinted : Math.max(hinted, backoffMillis)
}

/**
 * Makes any retry schedule honour the hints of the failures it is fed. The
 * result composes with Effect's own combinators and works with `Effect.retry`:
 *
 * ```ts
 * Effect.retry(call, Backoff.exponential({ base: "1 second" }).pipe(RetryAfter.honor("floor")))
 * ```
 *
 * @since 0.1.0
 * @category Combinators
 */
export const honor: {
  (mode?: Mode): <Out, In, R>(self: Schedule.Schedule<Out, In, R>) => Schedule.Schedule<Out, In, R>
  <Out, In, R>(self: Schedule.Schedule<Out, In, R>, mode?: Mode): Schedule.Schedule<Out, In, R>
} = dual(
  (args) => Schedule.isSchedule(args[0]),
  <Out, In, R>(self: Schedule.Schedule<Out, In, R>, mode: Mode = "floor"): Schedule.Schedule<Out, In, R> =>
    Schedule.intersect(self, Schedule.identity<In>()).pipe(
      Schedule.modifyDelay(([, input], delay) =>
        Duration.millis(delayMillis(mode, Duration.toMillis(delay), hint(input)))
      ),
      Schedule.map(([out]) => out)
    )
)
