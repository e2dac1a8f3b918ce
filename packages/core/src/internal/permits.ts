import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { InvalidPolicy } from "../Errors.js"
import * as Timeout from "../Timeout.js"
import type { checker } from "./validate.js"

/**
 * A caller waiting for a permit. `granted` means the permit is already counted
 * in `active` on the waiter's behalf: whoever ends the wait must either run the
 * call or give the permit back.
 */
export interface Waiter {
  state: "waiting" | "granted" | "done"
  resume: ((effect: Effect.Effect<void>) => void) | undefined
}

/**
 * Permits with a FIFO queue of waiters and a limit that may change at any time
 * (the adaptive limiter moves it). Every method is synchronous: called from
 * inside an `Effect.sync` or an uninterruptible region, each transition is
 * atomic with respect to other fibers, with no `Ref` round trips on the happy
 * path. Cancelled waiters stay in the array and are skipped, so leaving the
 * queue is O(1).
 */
export class Permits {
  active = 0
  queued = 0
  private queue: Array<Waiter> = []
  private head = 0

  constructor(public limit: number, private readonly onChange: (permits: Permits) => void) {}

  /** Takes a permit at once if one is free and nobody waits ahead of us. */
  tryTake(): boolean {
    if (this.active >= this.limit || this.queued > 0) return false
    this.active++
    this.onChange(this)
    return true
  }

  enqueue(): Waiter {
    const waiter: Waiter = { state: "waiting", resume: undefined }
    this.queue.push(waiter)
    this.queued++
    this.onChange(this)
    return waiter
  }

  /** Suspends until the waiter is granted a permit. */
  wait(waiter: Waiter): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (waiter.state === "granted") resume(Effect.void)
      else waiter.resume = resume
    })
  }

  release(): void {
    this.active--
    this.drain()
    this.onChange(this)
  }

  /** The wait ended without running the call (timeout, interruption). */
  abandon(waiter: Waiter): void {
    const state = waiter.state
    waiter.state = "done"
    waiter.resume = undefined
    if (state === "granted") {
      this.release()
    } else if (state === "waiting") {
      this.queued--
      this.onChange(this)
    }
  }

  /** The granted waiter now runs its call; its permit is released like any other. */
  claim(waiter: Waiter): void {
    waiter.state = "done"
    waiter.resume = undefined
  }

  setLimit(limit: number): void {
    this.limit = limit
    this.drain()
    this.onChange(this)
  }

  private drain(): void {
    while (this.active < this.limit && this.queued > 0) {
      const waiter = this.queue[this.head]!
      this.head++
      if (waiter.state !== "waiting") continue
      waiter.state = "granted"
      this.queued--
      this.active++
      const resume = waiter.resume
      waiter.resume = undefined
      if (resume !== undefined) resume(Effect.void)
    }
    // Skip the cancelled waiters at the head, then reclaim the consumed prefix now and then.
    while (this.head < this.queue.length && this.queue[this.head]!.state !== "waiting") this.head++
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }
}

/** What a caller does when no permit is free. */
export interface Queueing<X> {
  readonly maxQueue: number
  readonly queueTimeout: number | undefined
  /** The queue is full too. */
  readonly full: () => Effect.Effect<never, X>
  /** The caller waited `queueTimeout` in vain. */
  readonly timedOut: () => Effect.Effect<never, X>
}

/**
 * Runs `use` holding a permit, waiting in the queue for one if need be. `use`
 * gets the interruptibility `restore` and must release the permit exactly once.
 * Everything between taking the permit and handing it to `use` is
 * uninterruptible, so no interruption can lose a permit: an interrupted waiter
 * leaves the queue, or gives back the permit it was granted meanwhile.
 */
export const withPermit = <A, E, R, X>(
  permits: Permits,
  queueing: Queueing<X>,
  use: (restore: <A1, E1, R1>(effect: Effect.Effect<A1, E1, R1>) => Effect.Effect<A1, E1, R1>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | X, R> =>
  Effect.uninterruptibleMask((restore) => {
    if (permits.tryTake()) return use(restore)
    if (permits.queued >= queueing.maxQueue) return queueing.full()
    return Effect.withFiberRuntime<A, E | X, R>((fiber) => {
      // Taken again in the same step as the enqueue below: a permit freed meanwhile must not be missed.
      if (permits.tryTake()) return use(restore)
      if (permits.queued >= queueing.maxQueue) return queueing.full()
      // Under a Timeout.total, the wait ends at its deadline at the latest, failing as the total does
      // (the total's own type carries its DeadlineExceeded).
      const deadline = Timeout.remainingBound(
        fiber,
        Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
      )
      const untilDeadline = deadline === undefined ? Infinity : deadline.millis
      if (deadline !== undefined && untilDeadline <= 0) return deadline.fail
      const byDeadline = untilDeadline < (queueing.queueTimeout ?? Infinity)
      const bound = byDeadline ? untilDeadline : queueing.queueTimeout
      const waiter = permits.enqueue()
      const wait = permits.wait(waiter)
      const waited: Effect.Effect<void, X> = bound === undefined ? wait : Effect.flatMap(
        Effect.timeoutOption(wait, bound),
        (granted) => {
          if (granted._tag === "Some") return Effect.void
          // The timer may have won the race against a grant: abandon gives such a permit back.
          permits.abandon(waiter)
          return byDeadline ? deadline!.fail : queueing.timedOut()
        }
      )
      return restore(waited).pipe(
        Effect.onInterrupt(() => Effect.sync(() => permits.abandon(waiter))),
        Effect.zipRight(Effect.suspend(() => {
          permits.claim(waiter)
          return use(restore)
        }))
      )
    })
  })

/**
 * The queue options shared by every policy built on permits: how many calls may
 * wait, and for how long (milliseconds; `undefined` for as long as it takes).
 */
export const queueOptions = (
  check: ReturnType<typeof checker>,
  options: { readonly maxQueue: number; readonly queueTimeout?: Duration.DurationInput | undefined }
): Either.Either<{ readonly maxQueue: number; readonly queueTimeoutMillis: number | undefined }, InvalidPolicy> =>
  Either.gen(function*() {
    const maxQueue = yield* check.number("maxQueue", options.maxQueue, { min: 0, integer: true, infinite: true })
    const queueTimeoutMillis = options.queueTimeout === undefined
      ? undefined
      : yield* check.millis("queueTimeout", options.queueTimeout)
    return { maxQueue, queueTimeoutMillis }
  })
