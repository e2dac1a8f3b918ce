/**
 * Reads a built retry policy's backoff without sleeping: the delay it picks
 * before each retry, stepping its Schedule by hand with a seeded Random.
 */
import type * as Policy from "@bulwark/core/Policy"
import { Effect, Random, ScheduleDecision, ScheduleIntervals } from "effect"

/** The delays (ms) before retries 1 … `steps` of `policy`'s retry layer. */
export const delays = (policy: Policy.Policy, steps: number, seed = 0) =>
  Effect.gen(function*() {
    const backoff = policy.layers.retry!.backoff
    let state = backoff.initial
    const out: Array<number> = []
    for (let i = 0; i < steps; i++) {
      const [next, , decision] = yield* backoff.step(0, undefined, state)
      if (!ScheduleDecision.isContinue(decision)) break
      out.push(ScheduleIntervals.start(decision.intervals))
      state = next
    }
    return out
  }).pipe(Effect.withRandom(Random.make(seed)))

/** The same for a policy without jitter, synchronously. */
export const delaysSync = (policy: Policy.Policy, steps: number) => Effect.runSync(delays(policy, steps))
