import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Scheduler from "effect/Scheduler"

/** One call under watch. */
export interface Watched {
  readonly deadline: number
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
  state: "running" | "done" | "timed-out"
}

/** One run of the watchdog; a newer run makes an older one stale. */
interface Run {
  fiber: Fiber.RuntimeFiber<void, never> | undefined
  /** When it wakes next: every call due earlier needs a new run. */
  wakeAt: number
}

/**
 * One timer for every call of a timeout instance, instead of one timer fiber
 * per call (`Effect.timeout` forks two fibers per call: the call and a sleep).
 *
 * The calls wait in a queue sorted by deadline; the watchdog sleeps until the
 * earliest, interrupts that call if it is still running, and moves on. The
 * deadlines of one instance mostly arrive in increasing order (a fixed
 * duration), so inserting is O(1) from the tail; a call due before the
 * watchdog wakes (an enclosing deadline came first) starts a new run.
 *
 * A pending timer keeps a Node process alive until it fires, so the watchdog
 * must not sleep on once the last call has ended; but stopping it at once and
 * forking a new one for the next call would cost every sequential call a fork
 * and an interruption. So the stop is deferred to the scheduler's next task
 * after the caller's own: a caller that goes straight on to its next call
 * (a loop, a retry) finds the watchdog still there, and an idle one is gone
 * within a tick.
 *
 * The watchdog sleeps on the clock of the fiber that started it; a live clock
 * stepping backwards delays a timeout by the size of the step.
 */
export class Watchdog {
  private queue: Array<Watched> = []
  private head = 0
  private current: Run | undefined = undefined
  private stopPending = false
  private scheduler: Scheduler.Scheduler | undefined = undefined

  /** Queues a call; returns the watchdog to fork, if none is running early enough. */
  watch(entry: Watched, scheduler: Scheduler.Scheduler): Effect.Effect<void> | undefined {
    this.scheduler = scheduler
    const queue = this.queue
    let at = queue.length
    while (at > this.head && queue[at - 1]!.deadline > entry.deadline) at--
    if (at === queue.length) queue.push(entry)
    else queue.splice(at, 0, entry)
    const current = this.current
    if (current !== undefined) {
      if (current.wakeAt <= entry.deadline) return undefined
      this.stop(current)
    }
    const run: Run = { fiber: undefined, wakeAt: entry.deadline }
    this.current = run
    return this.loop(run)
  }

  /** The call ended: forget its fiber, let finished calls at the head go, stop the timer soon if none is left. */
  finished(entry: Watched): void {
    if (entry.state === "running") entry.state = "done"
    entry.fiber = undefined
    if (this.skip() || this.current === undefined || this.stopPending) return
    const scheduler = this.scheduler
    if (scheduler === undefined) return this.stop(this.current)
    this.stopPending = true
    scheduler.scheduleTask(() => {
      this.stopPending = false
      if (!this.skip() && this.current !== undefined) this.stop(this.current)
    }, 0)
  }

  private stop(run: Run): void {
    if (this.current === run) this.current = undefined
    const fiber = run.fiber
    run.fiber = undefined
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
      return Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        if (!this.skip()) {
          // Idle, but a stop is pending: the caller may be about to call again (a fast call often ends
          // before its watchdog has even started). Sleep on; the pending stop ends this run if not.
          if (this.stopPending && run.wakeAt > now) {
            return Effect.zipRight(Effect.sleep(Duration.millis(run.wakeAt - now)), this.loop(run))
          }
          this.current = undefined
          run.fiber = undefined
          return Effect.void
        }
        const entry = this.queue[this.head]!
        if (entry.deadline > now) {
          run.wakeAt = entry.deadline
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
