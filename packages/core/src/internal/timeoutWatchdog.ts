import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"

/** One call under watch. */
export interface Watched {
  readonly deadline: number
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
  state: "running" | "done" | "timed-out"
}

/** One run of the watchdog; a newer run makes an older one stale. */
interface Run {
  fiber: Fiber.RuntimeFiber<void, never> | undefined
}

/**
 * One timer for every call of a timeout instance, instead of one timer fiber
 * per call (`Effect.timeout` forks two fibers per call: the call and a sleep).
 *
 * A timeout instance has a fixed duration, so deadlines arrive in increasing
 * order and the calls form a FIFO queue: the watchdog sleeps until the
 * deadline of the oldest call still running, interrupts it if it is still
 * running, and moves on. A call that ends drops its fiber reference at once.
 *
 * When the last call under watch ends, the watchdog is interrupted rather than
 * left asleep: a pending timer would keep a Node process alive until it fired.
 * The next call starts a new one. So concurrent calls share one timer, and a
 * lone call pays for a timer of its own, as with `Effect.timeout`.
 *
 * The watchdog sleeps on the clock of the fiber that started it; a live clock
 * stepping backwards delays a timeout by the size of the step.
 */
export class Watchdog {
  private queue: Array<Watched> = []
  private head = 0
  private current: Run | undefined = undefined

  /** Queues a call; returns the watchdog to fork, if none is running. */
  watch(entry: Watched): Effect.Effect<void> | undefined {
    this.queue.push(entry)
    if (this.current !== undefined) return undefined
    const run: Run = { fiber: undefined }
    this.current = run
    return this.loop(run)
  }

  /** The call ended: forget its fiber, let finished calls at the head go, stop the timer if none is left. */
  finished(entry: Watched): void {
    if (entry.state === "running") entry.state = "done"
    entry.fiber = undefined
    if (this.skip() || this.current === undefined) return
    const fiber = this.current.fiber
    this.current = undefined
    // A run that has not started yet sees it is stale and ends by itself.
    if (fiber !== undefined) fiber.unsafeInterruptAsFork(fiber.id())
  }

  /** Drops finished calls from the head; whether a running call is left. */
  private skip(): boolean {
    while (this.head < this.queue.length && this.queue[this.head]!.state !== "running") this.head++
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
      return false
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
    return true
  }

  private loop(run: Run): Effect.Effect<void> {
    return Effect.withFiberRuntime<void>((self) => {
      if (this.current !== run) return Effect.void
      run.fiber = self
      if (!this.skip()) {
        this.current = undefined
        return Effect.void
      }
      const entry = this.queue[this.head]!
      return Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        if (entry.deadline > now) {
          return Effect.zipRight(Effect.sleep(Duration.millis(entry.deadline - now)), this.loop(run))
        }
        entry.state = "timed-out"
        const fiber = entry.fiber
        entry.fiber = undefined
        // Fire and forget: the caller awaits the call's end, interruption included.
        if (fiber !== undefined) fiber.unsafeInterruptAsFork(self.id())
        return this.loop(run)
      })
    })
  }
}
