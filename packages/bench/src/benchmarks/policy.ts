/**
 * One composition of policies on the happy path (every call succeeds), and the
 * fast-fail cost of an open circuit breaker.
 */
import * as CircuitBreakerModule from "@bulwark/core/CircuitBreaker"
import * as Errors from "@bulwark/core/Errors"
import * as Policy from "@bulwark/core/Policy"
import {
  BrokenCircuitError,
  bulkhead,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  retry,
  timeout,
  TimeoutStrategy,
  wrap
} from "cockatiel"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import Opossum from "opossum"
import type { Benchmark } from "../Harness.js"
import { effectLoop, promiseLoop } from "../Loops.js"

const call = Effect.sync(() => 1)
const fn = async () => 1

/** Building a policy allocates its state: once, as an application would at start-up. */
const build = <A, E>(effect: Effect.Effect<A, E>): A =>
  Effect.runSync(effect.pipe(Logger.withMinimumLogLevel(LogLevel.None)))

const standard = build(Policy.standard("bench"))
// Five calls in all, as cockatiel's `maxAttempts: 4` (retries) below.
const retryOptions = { maxAttempts: 5, base: "1 second", maxDelay: "60 seconds" } as const
const retryBreaker = build(Policy.make({ service: "bench", retry: retryOptions, circuitBreaker: {} }))
const likeCockatiel = build(Policy.make({
  service: "bench",
  retry: retryOptions,
  circuitBreaker: {},
  bulkhead: { maxConcurrent: 1000 },
  attemptTimeout: "30 seconds"
}))
const withLimits = build(Policy.make({
  service: "bench",
  retry: retryOptions,
  circuitBreaker: {},
  rateLimiter: { rate: 1e9 },
  bulkhead: { maxConcurrent: 1000 }
}))

const cockatiel = wrap(
  retry(handleAll, { maxAttempts: 4, backoff: new ExponentialBackoff() }),
  circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
  bulkhead(1000, 0),
  timeout(30_000, TimeoutStrategy.Cooperative)
)
const opossum = new Opossum(fn, { timeout: 30_000, errorThresholdPercentage: 50, resetTimeout: 30_000 })

// Open breakers, tripped for real by five failures and held open for a day, so a
// whole run only ever sees the fast-fail path.
const day = 24 * 60 * 60 * 1000
const unavailable = new Errors.Unavailable({ service: "bench" })

const openBulwark = build(Effect.gen(function*() {
  const breaker = yield* CircuitBreakerModule.make({ service: "bench", openDuration: "1 days" })
  for (let i = 0; i < 5; i++) yield* Effect.ignore(breaker.protect(Effect.fail(unavailable)))
  if ((yield* breaker.state) !== "OPEN") throw new Error("the Bulwark breaker did not open")
  return breaker
}))
// One continuation for either outcome, as `.then(onFulfilled, onRejected)` below.
const bulwarkRefused = Effect.matchEffect(openBulwark.protect(call), {
  onFailure: (error) => error._tag === "CircuitOpen" ? Effect.succeed(0) : Effect.die(error),
  onSuccess: () => Effect.dieMessage("an open breaker let a call through")
})

const openCockatiel = circuitBreaker(handleAll, { halfOpenAfter: day, breaker: new ConsecutiveBreaker(5) })
for (let i = 0; i < 5; i++) {
  await openCockatiel.execute(() => Promise.reject(unavailable)).catch(() => undefined)
}
if (openCockatiel.state !== CircuitState.Open) throw new Error("the cockatiel breaker did not open")

const openOpossum = new Opossum(fn, { timeout: 30_000, errorThresholdPercentage: 50, resetTimeout: day })
openOpossum.open()

/** A refusal is the expected outcome: it is caught, and anything else is a bug in the benchmark. */
const refusedLoop = (make: () => Promise<number>, expected: (error: unknown) => boolean) =>
  promiseLoop(() =>
    make().then(
      () => {
        throw new Error("an open breaker let a call through")
      },
      (error: unknown) => {
        if (!expected(error)) throw error
        return 0
      }
    )
  )

export const benchmark: Benchmark = {
  name: "policy",
  title: "one composition of policies on the happy path, and an open breaker's refusal",
  description: [
    "Every call succeeds, so each composition's cost is pure overhead on a healthy service. Policies are built",
    "once, as at start-up; each call is `policy.protect(effect)` (Bulwark) or `policy.execute(fn)` /",
    "`breaker.fire()` (cockatiel, opossum). `bulwark standard policy` is `Policy.standard(\"bench\")` with its",
    "defaults: total timeout 2 min → retry (5 attempts) with a retry budget → circuit breaker (5 consecutive",
    "failures) → Retry-After gate → attempt timeout 30 s. `bulwark retry + breaker` has just those two layers;",
    "`bulwark like cockatiel` has cockatiel's four (retry, breaker, bulkhead of 1000, attempt timeout 30 s);",
    "`bulwark with limits` adds a rate limiter (never empty) and a bulkhead to retry + breaker. cockatiel is",
    "`wrap(retry(handleAll, { maxAttempts: 4, backoff: new ExponentialBackoff() }), circuitBreaker(handleAll,",
    "{ halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }), bulkhead(1000, 0), timeout(30_000,",
    "TimeoutStrategy.Cooperative))`; opossum is `new CircuitBreaker(fn, { timeout: 30000,",
    "errorThresholdPercentage: 50, resetTimeout: 30000 })`. The `runPromise` group calls the standard policy",
    "from promise code, one `Effect.runPromise` per call.",
    "",
    "The `open breaker` rows time one refused call of a breaker tripped for real by five failures and held",
    "open: Bulwark's `CircuitBreaker.make` (fails with `CircuitOpen`, caught with `matchEffect`), cockatiel's",
    "`circuitBreaker` (rejects with `BrokenCircuitError`) and opossum after `open()` (rejects with",
    "`EOPENBREAKER`). Each is compared with the bare call of its own kind, named in the last column.",
    "",
    "The verdict: Bulwark's standard policy's ratio to its bare call must be no worse than cockatiel's",
    "`wrap` ratio to its own. A bare effect costs about three bare async calls, so equal ratios are not equal",
    "times: compare the ns/call of the two groups too. `pnpm bench policy-anatomy` shows where the time goes."
  ].join("\n"),
  peers: [
    { name: "bare effect", group: "effect", bare: true, run: effectLoop(call) },
    { name: "bulwark standard policy", group: "effect", run: effectLoop(standard.protect(call)) },
    { name: "bulwark retry + breaker", group: "effect", run: effectLoop(retryBreaker.protect(call)) },
    { name: "bulwark like cockatiel", group: "effect", run: effectLoop(likeCockatiel.protect(call)) },
    { name: "bulwark with limits", group: "effect", run: effectLoop(withLimits.protect(call)) },
    { name: "bare async fn", group: "promise", bare: true, run: promiseLoop(fn) },
    { name: "cockatiel wrap", group: "promise", run: promiseLoop(() => cockatiel.execute(fn)) },
    { name: "opossum", group: "promise", run: promiseLoop(() => opossum.fire()) },
    {
      name: "runPromise(bare effect)",
      group: "runPromise",
      bare: true,
      run: promiseLoop(() => Effect.runPromise(call))
    },
    {
      name: "runPromise(bulwark standard policy)",
      group: "runPromise",
      run: promiseLoop(() => Effect.runPromise(standard.protect(call)))
    },
    {
      name: "bulwark open breaker (CircuitOpen)",
      group: "open breaker",
      baseline: "bare effect",
      run: effectLoop(bulwarkRefused)
    },
    {
      name: "cockatiel open breaker (BrokenCircuitError)",
      group: "open breaker",
      baseline: "bare async fn",
      run: refusedLoop(() => openCockatiel.execute(fn), (error) => error instanceof BrokenCircuitError)
    },
    {
      name: "opossum open breaker (EOPENBREAKER)",
      group: "open breaker",
      baseline: "bare async fn",
      run: refusedLoop(
        () => openOpossum.fire(),
        (error) => error instanceof Error && (error as { code?: unknown }).code === "EOPENBREAKER"
      )
    }
  ],
  verdict: { subject: "bulwark standard policy", reference: "cockatiel wrap" }
}
