/**
 * Where the happy-path cost of `Policy.standard` goes: each of its layers
 * alone, the standard policy without its timeouts, and, for the open breaker,
 * the pieces of a refusal.
 */
import * as Bulkhead from "@bulwark/core/Bulkhead"
import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as Errors from "@bulwark/core/Errors"
import * as Metrics from "@bulwark/core/Metrics"
import * as Policy from "@bulwark/core/Policy"
import * as RateLimiter from "@bulwark/core/RateLimiter"
import * as Retry from "@bulwark/core/Retry"
import * as RetryAfterGate from "@bulwark/core/RetryAfterGate"
import * as RetryBudget from "@bulwark/core/RetryBudget"
import * as Timeout from "@bulwark/core/Timeout"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import type { Benchmark } from "../Harness.js"
import { effectLoop } from "../Loops.js"

const call = Effect.sync(() => 1)

const build = <A, E>(effect: Effect.Effect<A, E>): A =>
  Effect.runSync(effect.pipe(Logger.withMinimumLogLevel(LogLevel.None)))

const service = "anatomy"
const { standardDefaults } = Policy
const retryPolicy = Either.getOrThrow(Retry.policy({ ...standardDefaults.retry, name: service }))
const budget = build(RetryBudget.make({ ...standardDefaults.budget, service }))
const budgetedPolicy = Either.getOrThrow(Retry.policy({ ...standardDefaults.retry, name: service, budget }))
const total = build(Timeout.total(standardDefaults.totalTimeout, { service }))
const attempt = build(Timeout.attempt(standardDefaults.attemptTimeout, { service }))
const breaker = build(CircuitBreaker.make({ ...standardDefaults.circuitBreaker, service }))
const gate = build(RetryAfterGate.make({ ...standardDefaults.retryAfterGate, service }))
const bulkhead = build(Bulkhead.make({ maxConcurrent: 1000, service }))
const limiter = build(RateLimiter.make({ rate: 1e9, service }))
const standard = build(Policy.standard(service))
const untimed = build(Policy.standard(service, { totalTimeout: false, attemptTimeout: false }))

const openBreaker = build(Effect.gen(function*() {
  const open = yield* CircuitBreaker.make({ service, openDuration: "1 days" })
  const unavailable = new Errors.Unavailable({ service })
  for (let i = 0; i < 5; i++) yield* Effect.ignore(open.protect(Effect.fail(unavailable)))
  return open
}))
const refusal = new CircuitBreaker.CircuitOpen({ service, state: "OPEN", retryAfter: Duration.days(1) })
// Tagged as the breaker tags it: one call with every label.
const rejections = Metric.taggedWithLabels(Metrics.circuitRejections, [
  MetricLabel.make("service", service),
  MetricLabel.make("state", "OPEN")
])

/** As the breaker builds its refusal: validation off, no stack captured. */
const stackless = () => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new CircuitBreaker.CircuitOpen({ service, state: "OPEN", retryAfter: Duration.millis(1000) }, true)
  } finally {
    Error.stackTraceLimit = limit
  }
}

/** Refusals are caught with one continuation for either outcome. */
const refused = <E>(effect: Effect.Effect<number, E>) =>
  Effect.matchEffect(effect, { onFailure: () => Effect.succeed(0), onSuccess: Effect.succeed })

export const benchmark: Benchmark = {
  name: "policy-anatomy",
  title: "what the happy path of Policy.standard and an open breaker's refusal are made of",
  description: [
    "Each layer of `Policy.standard` alone, with the standard defaults, in the same `yield*` loop as",
    "`pnpm bench policy`; then the standard policy without its two timeouts, and whole. Effect's own",
    "`Effect.timeout` is there for reference. A Bulwark timeout runs the call in a fiber of its own and, when",
    "no other call is under watch, starts a watchdog fiber with a real timer and interrupts it when the call",
    "ends: `timeout pieces` time those two things alone. The `refusal` group takes an open breaker's refusal",
    "apart: failing with a ready-made `CircuitOpen`, building one per call (the constructor with validation",
    "off, with and without a stack trace), bumping the rejection counter, and the breaker's whole refusal;",
    "each caught with `matchEffect`. Groups without a bare peer are compared with the bare effect."
  ].join("\n"),
  peers: [
    { name: "bare effect", group: "layer", bare: true, run: effectLoop(call) },
    { name: "total timeout (2 min)", group: "layer", run: effectLoop(total.protect(call)) },
    { name: "attempt timeout (30 s)", group: "layer", run: effectLoop(attempt.protect(call)) },
    { name: "Effect.timeout (30 s)", group: "layer", run: effectLoop(Effect.timeout(call, "30 seconds")) },
    {
      name: "fork + join",
      group: "timeout pieces",
      baseline: "bare effect",
      run: effectLoop(Effect.flatMap(Effect.fork(call), Fiber.join))
    },
    {
      name: "fork + join + 30 s timer fiber, interrupted",
      group: "timeout pieces",
      baseline: "bare effect",
      run: effectLoop(Effect.flatMap(
        Effect.forkDaemon(Effect.sleep("30 seconds")),
        (timer) => Effect.zipLeft(Effect.flatMap(Effect.fork(call), Fiber.join), Fiber.interrupt(timer))
      ))
    },
    { name: "retry", group: "layer", run: effectLoop(Retry.retry(call, retryPolicy)) },
    { name: "retry + budget", group: "layer", run: effectLoop(Retry.retry(call, budgetedPolicy)) },
    { name: "circuit breaker (closed)", group: "layer", run: effectLoop(breaker.protect(call)) },
    { name: "Retry-After gate", group: "layer", run: effectLoop(gate.protect(call)) },
    { name: "bulkhead", group: "layer", run: effectLoop(bulkhead.protect(call)) },
    { name: "rate limiter", group: "layer", run: effectLoop(limiter.protect(call)) },
    { name: "standard without timeouts", group: "layer", run: effectLoop(untimed.protect(call)) },
    { name: "standard policy", group: "layer", run: effectLoop(standard.protect(call)) },
    {
      name: "fail(ready-made CircuitOpen)",
      group: "refusal",
      baseline: "bare effect",
      run: effectLoop(refused(Effect.fail(refusal)))
    },
    {
      name: "new CircuitOpen with a stack + fail",
      group: "refusal",
      baseline: "bare effect",
      run: effectLoop(refused(Effect.suspend(() =>
        Effect.fail(
          new CircuitBreaker.CircuitOpen({ service, state: "OPEN", retryAfter: Duration.millis(1000) }, true)
        )
      )))
    },
    {
      name: "new CircuitOpen without a stack + fail",
      group: "refusal",
      baseline: "bare effect",
      run: effectLoop(refused(Effect.suspend(() => Effect.fail(stackless()))))
    },
    {
      name: "rejection counter + fail",
      group: "refusal",
      baseline: "bare effect",
      run: effectLoop(refused(Effect.zipRight(Metric.increment(rejections), Effect.fail(refusal))))
    },
    {
      name: "open breaker refusal",
      group: "refusal",
      baseline: "bare effect",
      run: effectLoop(refused(openBreaker.protect(call)))
    }
  ]
}
