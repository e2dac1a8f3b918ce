/**
 * Runs an effect in virtual time, fast: a discrete-event loop over Effect's own
 * `Clock` and `Scheduler` interfaces. Every fiber runs until all of them are
 * suspended; then the clock jumps to the earliest pending sleep and wakes that
 * one sleeper, and so on until the effect ends. Time never passes for real and,
 * with a seeded `Random`, every run is the same.
 *
 * The semantics are TestClock's (`TestClock.adjust` also wakes one sleeper at a
 * time, in time order, after the fibers have settled, and wakes sleepers due at
 * the same instant the last one first), so the test suite checks that both give
 * the same results. TestClock waits for the fibers to settle with real
 * `setTimeout`s, a few milliseconds per sleeper: a simulation with thousands of
 * sleeps would take minutes. Here the fibers run on a `ControlledScheduler`
 * that is drained synchronously, so a sleeper costs microseconds.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Runtime from "effect/Runtime"
import * as Scheduler from "effect/Scheduler"

interface Sleeper {
  readonly at: number
  /** Order of registration: among sleepers due at one instant, the latest wakes first, as with TestClock. */
  readonly seq: number
  readonly wake: () => void
  cancelled: boolean
}

/** Earlier first; at the same instant, the later registration first. */
const before = (a: Sleeper, b: Sleeper): boolean => a.at < b.at || (a.at === b.at && a.seq > b.seq)

/** A binary min-heap of sleepers; cancelled ones are dropped when they surface. */
class Sleepers {
  private readonly heap: Array<Sleeper> = []

  get size(): number {
    return this.heap.length
  }

  push(sleeper: Sleeper): void {
    const heap = this.heap
    heap.push(sleeper)
    let index = heap.length - 1
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!before(heap[index]!, heap[parent]!)) break
      ;[heap[index], heap[parent]] = [heap[parent]!, heap[index]!]
      index = parent
    }
  }

  /** The next sleeper still waiting, removed from the heap. */
  pop(): Sleeper | undefined {
    for (;;) {
      const heap = this.heap
      const top = heap[0]
      if (top === undefined) return undefined
      const last = heap.pop()!
      if (heap.length > 0) {
        heap[0] = last
        let index = 0
        for (;;) {
          const left = 2 * index + 1
          const right = left + 1
          let smallest = index
          if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left
          if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right
          if (smallest === index) break
          ;[heap[index], heap[smallest]] = [heap[smallest]!, heap[index]!]
          index = smallest
        }
      }
      if (!top.cancelled) return top
    }
  }
}

/**
 * A `Clock` whose time moves only when {@link run} moves it. Milliseconds from
 * `start`; `sleep` of zero or less returns at once, as TestClock's does.
 */
export class VirtualClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  private readonly sleepers = new Sleepers()
  private seq = 0
  /** Sleeps registered so far, for the report of a run. */
  sleeps = 0

  constructor(public now: number = 0) {}

  unsafeCurrentTimeMillis(): number {
    return this.now
  }

  unsafeCurrentTimeNanos(): bigint {
    return BigInt(Math.round(this.now * 1_000_000))
  }

  readonly currentTimeMillis: Effect.Effect<number> = Effect.sync(() => this.now)

  readonly currentTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.unsafeCurrentTimeNanos())

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    const millis = Duration.toMillis(duration)
    if (!(millis > 0)) return Effect.void
    return Effect.async<void>((resume) => {
      const sleeper: Sleeper = {
        at: this.now + millis,
        seq: this.seq++,
        wake: () => resume(Effect.void),
        cancelled: false
      }
      this.sleeps++
      this.sleepers.push(sleeper)
      return Effect.sync(() => {
        sleeper.cancelled = true
      })
    })
  }

  /** Moves the clock to the next sleeper's time and wakes it; `false` when no one sleeps. */
  advance(): boolean {
    const next = this.sleepers.pop()
    if (next === undefined || next.at === Infinity) return false
    this.now = next.at
    next.wake()
    return true
  }
}

export interface Outcome<A, E> {
  readonly exit: Exit.Exit<A, E>
  /** The virtual time when the effect ended, in milliseconds. */
  readonly now: number
  /** Sleeps registered during the run. */
  readonly sleeps: number
}

export interface RunOptions {
  /** The virtual time the run starts at, in milliseconds. Default 0. */
  readonly start?: number | undefined
  /** Stops a run that sleeps past this virtual time. Default one day after `start`. */
  readonly until?: number | undefined
}

/**
 * Runs `effect` to its end in virtual time, synchronously. Throws when the
 * effect waits for something no sleeper will bring (a deadlock), or runs past
 * `until`.
 */
export const run = <A, E>(effect: Effect.Effect<A, E>, options: RunOptions = {}): Outcome<A, E> => {
  const start = options.start ?? 0
  const until = options.until ?? start + 24 * 60 * 60 * 1000
  const clock = new VirtualClock(start)
  const scheduler = new Scheduler.ControlledScheduler()
  const runtime = Runtime.defaultRuntime.pipe(Runtime.setFiberRef(FiberRef.currentScheduler, scheduler))
  const fiber = Runtime.runFork(runtime)(Effect.withClock(effect, clock))
  for (;;) {
    while (scheduler.tasks.buckets.length > 0) scheduler.step()
    const exit = fiber.unsafePoll()
    if (exit !== null) return { exit, now: clock.now, sleeps: clock.sleeps }
    if (!clock.advance()) {
      throw new Error(`virtual time: at ${clock.now} ms every fiber waits and no one sleeps (a deadlock)`)
    }
    if (clock.now > until) throw new Error(`virtual time: still running at ${clock.now} ms, past ${until} ms`)
  }
}
