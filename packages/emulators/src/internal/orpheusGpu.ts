/**
 * The GPU of an Orpheus service: `capacity` slots. A request either takes a
 * free slot at once or is turned away (`tryRun`, the busy guard), waits for
 * one in arrival order (`run`, LitServe's queue), or runs regardless
 * (`runUnbounded`, the v2 services, which have no guard).
 *
 * The check and the take happen in one synchronous step, so two requests can
 * never both see the last free slot. Once a request has a slot its work runs
 * in the emulator's scope, not the caller's: a client that hangs up does not
 * free the GPU early (a real model keeps generating), and closing the
 * emulator stops the work.
 *
 * A request may pass a `Start` instead of its work: it is called in the very
 * step that takes the slot (and its `released` in the very step that frees
 * it), so bookkeeping about the slots — when each frees — is never seen out
 * of step with `inUse`.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"

/** What the GPU is doing. */
export interface State {
  readonly capacity: number
  /** Slots taken. */
  readonly inUse: number
  /** Requests waiting for a slot (queue mode only). */
  readonly waiting: number
}

/** What a request does with its slot, decided when it takes it. */
export interface Job<A, E> {
  readonly work: Effect.Effect<A, E>
  /** Called in the step that frees the slot. */
  readonly released?: (() => void) | undefined
}

/** The work itself, or a function called in the step that takes the slot. */
export type Start<A, E> = Effect.Effect<A, E> | (() => Job<A, E>)

export interface Gpu {
  readonly state: () => State
  /** Runs `work` on a free slot, or `None` at once when every slot is taken. */
  readonly tryRun: <A, E>(work: Start<A, E>) => Effect.Effect<Option.Option<A>, E>
  /** Runs `work` on a slot, waiting in arrival order for one. */
  readonly run: <A, E>(work: Start<A, E>) => Effect.Effect<A, E>
  /** Runs `work` whatever the slots say (it still counts as a slot in use). */
  readonly runUnbounded: <A, E>(work: Start<A, E>) => Effect.Effect<A, E>
}

const jobOf = <A, E>(start: Start<A, E>): Job<A, E> => Effect.isEffect(start) ? { work: start } : start()

interface Waiter {
  resume: ((effect: Effect.Effect<void>) => void) | undefined
  granted: boolean
}

/** A GPU of `capacity` slots whose work lives in `scope`. */
export const make = (capacity: number, scope: Scope.Scope): Gpu => {
  let inUse = 0
  const waiters: Array<Waiter> = []

  // A freed slot goes straight to the first waiter, so a newcomer cannot overtake the queue.
  const release = () => {
    const next = waiters.shift()
    if (next === undefined) {
      inUse--
      return
    }
    next.granted = true
    next.resume?.(Effect.void)
  }

  /** With the slot already taken: the work, forked into the scope so that only the emulator can stop it. */
  const fork = <A, E>(job: Job<A, E>) =>
    Effect.forkIn(
      Effect.ensuring(
        Effect.interruptible(job.work),
        Effect.sync(() => {
          job.released?.()
          release()
        })
      ),
      scope
    )

  const tryRun = <A, E>(start: Start<A, E>): Effect.Effect<Option.Option<A>, E> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        if (inUse >= capacity) return Effect.succeedNone
        inUse++
        return Effect.flatMap(fork(jobOf(start)), (fiber) => restore(Effect.asSome(Fiber.join(fiber))))
      })
    )

  const runUnbounded = <A, E>(start: Start<A, E>): Effect.Effect<A, E> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        inUse++
        return Effect.flatMap(fork(jobOf(start)), (fiber) => restore(Fiber.join(fiber)))
      })
    )

  /** Takes a slot, waiting in line for one; run uninterruptibly, with `restore` around the wait only. */
  const wait = (restore: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) =>
    Effect.suspend(() => {
      if (inUse < capacity && waiters.length === 0) {
        inUse++
        return Effect.void
      }
      const waiter: Waiter = { resume: undefined, granted: false }
      waiters.push(waiter)
      return restore(Effect.async<void>((resume) => {
        if (waiter.granted) resume(Effect.void)
        else waiter.resume = resume
      })).pipe(
        // given up while waiting: leave the line, or pass on a slot granted in the meantime
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            if (waiter.granted) release()
            else waiters.splice(waiters.indexOf(waiter), 1)
          })
        )
      )
    })

  // A slot granted by a release is handed over a tick before `start` runs; nothing reads the
  // bookkeeping of a queue in that gap (busy answers come from `tryRun` only).
  const run = <A, E>(start: Start<A, E>): Effect.Effect<A, E> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.zipRight(
        wait(restore),
        Effect.flatMap(Effect.suspend(() => fork(jobOf(start))), (fiber) => restore(Fiber.join(fiber)))
      )
    )

  return {
    state: () => ({ capacity, inUse, waiting: waiters.length }),
    tryRun,
    run,
    runUnbounded
  }
}
