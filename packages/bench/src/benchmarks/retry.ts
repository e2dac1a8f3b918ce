/**
 * The happy path of a retry wrapper: the first attempt succeeds, so everything
 * the wrapper costs is overhead on every call of a healthy service.
 */
import { Retry } from "@bulwark/core"
import { ExponentialBackoff, handleAll, retry as cockatielRetry } from "cockatiel"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import pRetry from "p-retry"
import type { Benchmark } from "../Harness.js"
import { consume, effectLoop, promiseLoop } from "../Loops.js"

// Every policy allows five calls: the first and four retries.
const policy = Either.getOrThrow(Retry.policy({ maxAttempts: 5 }))
const schedule = Schedule.exponential("10 millis").pipe(Schedule.intersect(Schedule.recurs(4)))
const cockatiel = cockatielRetry(handleAll, { maxAttempts: 4, backoff: new ExponentialBackoff() })

const call = Effect.sync(() => 1)
const bulwarkRetried = call.pipe(Retry.retry(policy))
const effectRetried = Effect.retry(call, schedule)

const fn = async () => 1

export const benchmark: Benchmark = {
  name: "retry",
  title: "retry wrappers on the happy path",
  description: [
    "Every call succeeds at the first attempt, so each wrapper's cost is pure overhead on a healthy service.",
    "All policies allow five calls (one and four retries). Effect peers make N `yield*` inside one",
    "`Effect.runPromise` and are compared with a bare `Effect.sync(() => 1)`; promise peers `await` N calls",
    "and are compared with a bare `async () => 1`. `built per call` applies `Retry.retry(policy)` inside the loop,",
    "so it also pays for building the retried effect. The `runPromise` group calls an effect from promise code,",
    "one `Effect.runPromise` per call, as a promise-based caller of Bulwark would. The verdict: Bulwark's",
    "ratio to its bare call must be no worse than cockatiel's ratio to its own."
  ].join("\n"),
  peers: [
    { name: "bare effect", group: "effect", bare: true, run: effectLoop(call) },
    { name: "bulwark retry", group: "effect", run: effectLoop(bulwarkRetried) },
    {
      name: "bulwark retry, built per call",
      group: "effect",
      run: (iterations) =>
        Effect.runPromise(Effect.gen(function*() {
          let sum = 0
          for (let i = 0; i < iterations; i++) sum += yield* call.pipe(Retry.retry(policy))
          consume(sum)
        }))
    },
    { name: "Effect.retry(schedule)", group: "effect", run: effectLoop(effectRetried) },
    { name: "bare async fn", group: "promise", bare: true, run: promiseLoop(fn) },
    { name: "cockatiel retry", group: "promise", run: promiseLoop(() => cockatiel.execute(fn)) },
    { name: "p-retry", group: "promise", run: promiseLoop(() => pRetry(fn, { retries: 4 })) },
    {
      name: "runPromise(bare effect)",
      group: "runPromise",
      bare: true,
      run: promiseLoop(() => Effect.runPromise(call))
    },
    {
      name: "runPromise(bulwark retry)",
      group: "runPromise",
      run: promiseLoop(() => Effect.runPromise(bulwarkRetried))
    }
  ],
  verdict: { subject: "bulwark retry", reference: "cockatiel retry" }
}
