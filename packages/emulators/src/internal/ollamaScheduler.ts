/**
 * Ollama's scheduler as the emulator reproduces it: `numParallel` slots
 * (OLLAMA_NUM_PARALLEL) and a bounded queue of `maxQueue` waiters
 * (OLLAMA_MAX_QUEUE). A request finds a free slot and runs, or waits in the
 * queue, or — the queue being full — is refused at once (503 "server busy").
 * A freed slot goes to the oldest waiter; a waiter whose client goes away
 * leaves the queue.
 *
 * The transitions are pure functions of a small state (tested on their own);
 * `make` drives them with one Deferred per waiter.
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"

export interface Limits {
  readonly numParallel: number
  readonly maxQueue: number
}

export interface State {
  readonly running: number
  /** Ids of the waiting requests, oldest first. */
  readonly waiting: ReadonlyArray<number>
}

export const empty: State = { running: 0, waiting: [] }

export type Admission = "run" | "wait" | "reject"

/** A request arrives. */
export const admit = (
  state: State,
  limits: Limits,
  id: number
): { readonly state: State; readonly admission: Admission } =>
  state.running < limits.numParallel
    ? { state: { ...state, running: state.running + 1 }, admission: "run" }
    : state.waiting.length < limits.maxQueue
    ? { state: { ...state, waiting: [...state.waiting, id] }, admission: "wait" }
    : { state, admission: "reject" }

/** A running request ends: its slot passes to the oldest waiter, if any. */
export const release = (state: State): { readonly state: State; readonly next: number | undefined } => {
  const [next, ...rest] = state.waiting
  return next === undefined
    ? { state: { ...state, running: Math.max(0, state.running - 1) }, next: undefined }
    : { state: { ...state, waiting: rest }, next }
}

/** A waiting request goes away (client disconnect): its queue place frees. */
export const cancel = (state: State, id: number): State => ({
  ...state,
  waiting: state.waiting.filter((w) => w !== id)
})

/** The queue is full: the request was not accepted. */
export class QueueFull extends Data.TaggedError("QueueFull")<{}> {}

export interface Scheduler {
  readonly limits: Limits
  /**
   * Waits for a slot (interruptibly: an interrupted waiter leaves the queue)
   * and returns the effect that frees it (safe to run more than once). Run it
   * uninterruptibly (`Effect.uninterruptibleMask`) so a granted slot is never
   * lost between the grant and its release being installed.
   */
  readonly acquire: Effect.Effect<Effect.Effect<void>, QueueFull>
  /** Runs `self` holding a slot. */
  readonly withSlot: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | QueueFull, R>
  readonly state: Effect.Effect<State>
}

export const make = (limits: Limits): Effect.Effect<Scheduler> =>
  Effect.sync(() => {
    let state = empty
    let nextId = 0
    const waiters = new Map<number, Deferred.Deferred<void>>()

    const freeSlot = () => {
      const step = release(state)
      state = step.state
      if (step.next !== undefined) {
        const waiter = waiters.get(step.next)
        waiters.delete(step.next)
        if (waiter !== undefined) Deferred.unsafeDone(waiter, Exit.void)
      }
    }

    const releaser = () => {
      let done = false
      return Effect.sync(() => {
        if (done) return
        done = true
        freeSlot()
      })
    }

    const acquire: Effect.Effect<Effect.Effect<void>, QueueFull> = Effect.suspend(() => {
      const id = nextId++
      const step = admit(state, limits, id)
      state = step.state
      switch (step.admission) {
        case "reject":
          return Effect.fail(new QueueFull())
        case "run":
          return Effect.sync(releaser)
        case "wait": {
          const waiter = Deferred.unsafeMake<void>(FiberId.none)
          waiters.set(id, waiter)
          return Effect.interruptible(Deferred.await(waiter)).pipe(
            Effect.onInterrupt(() =>
              Effect.sync(() => {
                if (waiters.delete(id)) state = cancel(state, id)
                // granted just as the client left: pass the slot on
                else freeSlot()
              })
            ),
            Effect.map(releaser)
          )
        }
      }
    })

    const withSlot = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | QueueFull, R> =>
      Effect.uninterruptibleMask((restore) => Effect.flatMap(acquire, (free) => Effect.ensuring(restore(self), free)))

    return { limits, acquire: Effect.uninterruptible(acquire), withSlot, state: Effect.sync(() => state) }
  })
