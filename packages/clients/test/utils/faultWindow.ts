/**
 * Fault windows that open and close when the test says, not when the wall clock
 * says. An emulator made under `Effect.withClock(window.clock)` reads a clock
 * that stands still until the test moves it. A window `@0ms-400ms` then holds
 * every request until the test moves the clock past it, and its hint is exactly
 * 400 ms. A window `@1m-` opens only when the test moves the clock a minute on,
 * after whatever setup has to stay clear of it.
 *
 * On a loaded machine a test can stall for a second, so a real-time window of a
 * few hundred milliseconds may let the first request in late, or not at all.
 * Sleeps stay real: latency, slow-body and service times still take real time.
 */
import type * as Emulator from "@bulwark/emulators/Emulator"
import { HttpClient } from "@effect/platform"
import { Clock, Duration, Effect } from "effect"

/** A clock standing still at the moment it is made, and `skip` to move it forward. */
export const make = () => {
  const live = Clock.make()
  let now = live.unsafeCurrentTimeMillis()
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    currentTimeMillis: Effect.sync(() => now),
    unsafeCurrentTimeNanos: () => BigInt(now) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
    sleep: (duration) => live.sleep(duration)
  }
  const skip = (by: Duration.DurationInput) =>
    Effect.sync(() => {
      now += Duration.toMillis(by)
    })
  /**
   * A `transformClient` that moves the clock `by` as the client's `attempts`-th
   * request ends with an answer or a reset: the client's next attempt meets the
   * emulator after the window, however late it comes.
   */
  const skipAfter = (attempts: number, by: Duration.DurationInput) => (client: HttpClient.HttpClient) => {
    let ended = 0
    return HttpClient.transform(
      client,
      (effect) => Effect.onExit(effect, () => ++ended === attempts ? skip(by) : Effect.void)
    )
  }
  /**
   * The same for attempts that end by the client's own timeout: the clock moves
   * as the first request ends with `seen` holding. An attempt abandoned after a
   * stall, before the emulator read it, does not end the window; the emulator
   * may still read it late, so the fault can strike more than once.
   */
  const skipWhen = (seen: Effect.Effect<boolean>, by: Duration.DurationInput) => (client: HttpClient.HttpClient) => {
    let skipped = false
    return HttpClient.transform(
      client,
      (effect) =>
        Effect.onExit(effect, () =>
          skipped ? Effect.void : Effect.flatMap(seen, (ready) => {
            if (!ready) return Effect.void
            skipped = true
            return skip(by)
          }))
    )
  }
  return { clock, skip, skipAfter, skipWhen }
}

/** Whether the emulator has counted `count` faults of `kind` ("status-503", "reset", "latency", …). */
export const faults = (emulator: Emulator.Emulator, kind: string, count = 1) =>
  Effect.map(emulator.stats, (stats) => (stats.faults[kind] ?? 0) >= count)
