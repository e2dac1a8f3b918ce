import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as Errors from "@bulwark/core/Errors"
import * as Policy from "@bulwark/core/Policy"
import type * as Retry from "@bulwark/core/Retry"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Logger, LogLevel, TestClock } from "effect"
import { failureOf, relative, runOnTestClock, scripted } from "./utils/scripted.js"

const build = (options: Policy.Options) => Policy.make(options).pipe(Effect.orDieWith((e) => new Error(e.message)))
const quiet = Logger.withMinimumLogLevel(LogLevel.None)
const down = new Errors.Unavailable({ service: "llm" })

describe("Policy", () => {
  it.effect("the breaker is checked before every attempt: the service is not called while it is open", () =>
    Effect.gen(function*() {
      const policy = yield* build({
        service: "llm",
        retry: { maxAttempts: 4, base: "1 second", jitter: "none" },
        circuitBreaker: { trip: CircuitBreaker.consecutiveFailures(2), openDuration: "5 seconds", successThreshold: 1 }
      })
      const { calls, effect } = scripted([down, down])
      const exit = yield* runOnTestClock(policy.protect(effect))
      // 0 and 1 s fail and open the breaker until 6 s; the retry at 3 s is refused with a 3 s hint,
      // so the next one waits max(3 s, 4 s backoff) and probes at 7 s.
      expect(relative(calls)).toEqual([0, 1000, 7000])
      expect(exit).toEqual(Exit.succeed("ok"))
    }).pipe(quiet))

  it.effect("an open breaker's retryAfter makes the retry wait exactly the remaining open time", () =>
    Effect.gen(function*() {
      const policy = yield* build({
        service: "llm",
        retry: { maxAttempts: 3, base: "10 millis", jitter: "none" },
        circuitBreaker: { trip: CircuitBreaker.consecutiveFailures(1), openDuration: "30 seconds", successThreshold: 1 }
      })
      const { calls, effect } = scripted([down])
      yield* runOnTestClock(policy.protect(effect))
      expect(relative(calls)).toEqual([0, 30_000])
    }).pipe(quiet))

  it.effect("a total timeout bounds the retry sleeps: the retry gives up instead of sleeping into it", () =>
    Effect.gen(function*() {
      const policy = yield* build({
        service: "llm",
        totalTimeout: "5 seconds",
        retry: { maxAttempts: 10, base: "1 second", jitter: "none" }
      })
      const { calls, effect } = scripted(Array(20).fill(down))
      const exit = yield* runOnTestClock(policy.protect(effect))
      expect(relative(calls)).toEqual([0, 1000, 3000])
      expect(failureOf(exit)).toMatchObject({ _tag: "RetriesExhausted", reason: "deadline", attempts: 3 })
    }).pipe(quiet))

  it.effect("a total timeout interrupts a call in flight", () =>
    Effect.gen(function*() {
      const policy = yield* build({ service: "llm", totalTimeout: "5 seconds", retry: { maxAttempts: 2 } })
      const exit = yield* runOnTestClock(policy.protect(Effect.never))
      expect(failureOf(exit)).toMatchObject({ _tag: "DeadlineExceeded", service: "llm" })
    }).pipe(quiet))

  it.effect("attempt timeouts are retried, each attempt bounded", () =>
    Effect.gen(function*() {
      const policy = yield* build({
        service: "ollama",
        attemptTimeout: "2 seconds",
        retry: { maxAttempts: 3, base: "1 second", jitter: "none" }
      })
      const starts: Array<number> = []
      const slow = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        starts.push(now)
        return starts.length < 3 ? Effect.never : Effect.succeed("done")
      })
      const exit = yield* runOnTestClock(policy.protect(slow))
      expect(relative(starts)).toEqual([0, 3000, 7000])
      expect(exit).toEqual(Exit.succeed("done"))
    }).pipe(quiet))

  it.effect("a 404 passes through unchanged and does not count against the service", () =>
    Effect.gen(function*() {
      const policy = yield* build({
        service: "github",
        retry: { maxAttempts: 3 },
        circuitBreaker: { trip: CircuitBreaker.consecutiveFailures(1) }
      })
      const notFound = new Errors.Rejected({ service: "github", status: 404 })
      const { calls, effect } = scripted([notFound])
      const exit = yield* runOnTestClock(policy.protect(effect))
      expect(calls).toHaveLength(1)
      expect(failureOf(exit)).toBe(notFound)
      expect((yield* policy.layers.circuitBreaker!.stats).state).toBe("CLOSED")
    }).pipe(quiet))

  it.effect("local rejections do not trip the breaker", () =>
    Effect.gen(function*() {
      const policy = yield* build({
        service: "orpheus",
        circuitBreaker: { trip: CircuitBreaker.consecutiveFailures(1) },
        bulkhead: { maxConcurrent: 1 }
      })
      const holder = yield* Effect.fork(policy.protect(Effect.sleep("1 minute")))
      yield* TestClock.adjust(0)
      const rejected = yield* Effect.exit(policy.protect(Effect.void))
      expect(failureOf(rejected)).toMatchObject({ _tag: "BulkheadFull" })
      expect((yield* policy.layers.circuitBreaker!.stats).state).toBe("CLOSED")
      yield* Fiber.interrupt(holder)
    }).pipe(quiet))

  it.effect("one 429 closes the shared gate: the other callers wait instead of calling", () =>
    Effect.gen(function*() {
      const policy = yield* build({
        service: "orpheus",
        retry: { maxAttempts: 3, retryAfter: "override" },
        retryAfterGate: {}
      })
      const starts: Array<number> = []
      let busy = true
      const generate = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        starts.push(now)
        if (busy) {
          busy = false
          return Effect.fail(new Errors.RateLimited({ detail: "GPU busy", retryAfter: Duration.seconds(30) }))
        }
        return Effect.succeed(now)
      })
      const first = yield* Effect.fork(policy.protect(generate))
      yield* TestClock.adjust("1 second")
      const others = yield* Effect.forEach(Array.from({ length: 4 }), () => Effect.fork(policy.protect(generate)))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(first)
      yield* Effect.forEach(others, Fiber.join)
      // One call discovered the 429; nobody else called before the gate opened at 30 s.
      expect(starts.filter((time) => time < 30_000)).toEqual([0])
      expect(starts).toHaveLength(6)
    }).pipe(quiet))

  it.effect("standard builds every default layer and reports their stats", () =>
    Effect.gen(function*() {
      const policy = yield* Policy.standard("claude_api")
      expect(Object.entries(policy.layers).filter(([, layer]) => layer !== undefined).map(([name]) => name)).toEqual([
        "totalTimeout",
        "retry",
        "budget",
        "circuitBreaker",
        "retryAfterGate",
        "attemptTimeout"
      ])
      expect(yield* policy.protect(Effect.succeed(1))).toBe(1)
      const stats = yield* policy.stats
      expect(stats).toMatchObject({ service: "claude_api", circuitBreaker: { state: "CLOSED" }, retryBudget: 100 })
      const retry = policy.layers.retry as Retry.Policy
      expect(retry).toMatchObject({ name: "claude_api", maxAttempts: 5 })
    }))

  it.effect("standard takes overrides and removals", () =>
    Effect.gen(function*() {
      const policy = yield* Policy.standard("ollama", {
        attemptTimeout: "300 seconds",
        totalTimeout: "20 minutes",
        circuitBreaker: false,
        bulkhead: { maxConcurrent: 4, maxQueue: 256 }
      })
      expect(policy.layers.circuitBreaker).toBeUndefined()
      expect(policy.layers.bulkhead).toMatchObject({ maxConcurrent: 4, maxQueue: 256 })
      expect(Duration.toSeconds(policy.layers.attemptTimeout!.after)).toBe(300)
    }))

  describe("bad configuration is refused, naming the field", () => {
    it.effect.each(
      [
        [{ service: "" }, "policy", "service"],
        [{ service: "x", attemptTimeout: "10 seconds", totalTimeout: "5 seconds" }, "policy", "attemptTimeout"],
        [{ service: "x", budget: {} }, "policy", "budget"],
        [{ service: "x", retry: { maxAttempts: 0 } }, "retry", "maxAttempts"],
        [{ service: "x", circuitBreaker: { successThreshold: 0 } }, "circuit-breaker", "successThreshold"],
        [{ service: "x", bulkhead: { maxConcurrent: 0 } }, "bulkhead", "maxConcurrent"],
        [{ service: "x", adaptiveLimiter: { minLimit: 10, maxLimit: 5 } }, "adaptive-limiter", "maxLimit"],
        [{ service: "x", totalTimeout: -1 }, "policy", "totalTimeout"],
        [{ service: "x", attemptTimeout: "soon" }, "policy", "attemptTimeout"]
      ] as const
    )("%j → %s.%s", ([options, policy, field]) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Policy.make(options as Policy.Options))
        expect(error).toMatchObject({ _tag: "InvalidPolicy", policy, field })
      }))
  })
})
