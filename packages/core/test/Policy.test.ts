import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as Errors from "@bulwark/core/Errors"
import * as Policy from "@bulwark/core/Policy"
import type * as Retry from "@bulwark/core/Retry"
import * as Timeout from "@bulwark/core/Timeout"
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

  describe("the total timeout costs no fiber: each attempt's fiber enforces it, and every wait honours it", () => {
    it.effect("without an attempt timeout, a hanging call fails with DeadlineExceeded exactly at the deadline", () =>
      Effect.gen(function*() {
        const policy = yield* build({ service: "llm", totalTimeout: "5 seconds" })
        const fiber = yield* Effect.fork(Effect.exit(policy.protect(Effect.never)))
        yield* TestClock.adjust(4999)
        expect(fiber.unsafePoll()).toBeNull()
        yield* TestClock.adjust(1)
        const error = failureOf(yield* Fiber.join(fiber))
        expect(error).toBeInstanceOf(Timeout.DeadlineExceeded)
        expect(error).toMatchObject({ service: "llm", after: Duration.seconds(5) })
      }))

    it.effect("attempts time out on their own, the last one is cut at the deadline with DeadlineExceeded", () =>
      Effect.gen(function*() {
        const policy = yield* build({
          service: "llm",
          totalTimeout: "10 seconds",
          attemptTimeout: "3 seconds",
          retry: { maxAttempts: 10, base: "1 second", factor: 1, jitter: "none" }
        })
        const starts: Array<number> = []
        const hang = Effect.flatMap(Clock.currentTimeMillis, (now) => {
          starts.push(now)
          return Effect.never
        })
        const fiber = yield* Effect.fork(Effect.exit(policy.protect(hang)))
        yield* TestClock.adjust(9999)
        expect(fiber.unsafePoll()).toBeNull()
        yield* TestClock.adjust(1)
        // AttemptTimedOut at 3 and 7 s, each retried after 1 s; the third attempt is cut at 10 s.
        expect(starts).toEqual([0, 4000, 8000])
        expect(failureOf(yield* Fiber.join(fiber))).toMatchObject({ _tag: "DeadlineExceeded", service: "llm" })
      }).pipe(quiet))

    it.effect("attempts time out, and the retry declines a sleep past the deadline: RetriesExhausted", () =>
      Effect.gen(function*() {
        const policy = yield* build({
          service: "llm",
          totalTimeout: "10 seconds",
          attemptTimeout: "4 seconds",
          retry: { maxAttempts: 10, base: "3 seconds", factor: 1, jitter: "none" }
        })
        const { calls, effect } = scripted([])
        const hang = Effect.zipRight(effect, Effect.never)
        const exit = yield* runOnTestClock(policy.protect(hang))
        // Timed out at 4 s, retried at 7 s; that attempt gets until min(11 s, 10 s) and is cut at 10 s.
        expect(relative(calls)).toEqual([0, 7000])
        expect(failureOf(exit)).toMatchObject({ _tag: "DeadlineExceeded" })
        const short = yield* build({
          service: "llm",
          totalTimeout: "10 seconds",
          attemptTimeout: "2 seconds",
          retry: { maxAttempts: 10, base: "4 seconds", factor: 1, jitter: "none" }
        })
        const again = scripted([])
        const exhausted = yield* runOnTestClock(short.protect(Effect.zipRight(again.effect, Effect.never)))
        // 0–2 s, 6–8 s; the next sleep would end at 12 s: declined, not slept into the deadline.
        expect(relative(again.calls)).toEqual([0, 6000])
        expect(failureOf(exhausted)).toMatchObject({
          _tag: "RetriesExhausted",
          reason: "deadline",
          lastError: { _tag: "AttemptTimedOut" }
        })
      }).pipe(quiet))

    it.effect("a rate limiter wait longer than the time left fails at once with DeadlineExceeded", () =>
      Effect.gen(function*() {
        const policy = yield* build({
          service: "llm",
          totalTimeout: "5 seconds",
          rateLimiter: { rate: 1, interval: "10 seconds" }
        })
        expect(yield* policy.protect(Effect.succeed(1))).toBe(1)
        const start = yield* Clock.currentTimeMillis
        const exit = yield* Effect.exit(policy.protect(Effect.succeed(2)))
        expect(failureOf(exit)).toMatchObject({ _tag: "DeadlineExceeded", service: "llm" })
        expect(yield* Clock.currentTimeMillis).toBe(start)
        // The refused caller took no slot: the next one waits only for the first one's.
        yield* TestClock.adjust("10 seconds")
        expect(yield* policy.protect(Effect.succeed(3))).toBe(3)
      }))

    it.effect("a Retry-After gate wait longer than the time left fails at once with DeadlineExceeded", () =>
      Effect.gen(function*() {
        const policy = yield* build({ service: "orpheus", totalTimeout: "5 seconds", retryAfterGate: {} })
        yield* policy.layers.retryAfterGate!.closeFor("30 seconds")
        const exit = yield* Effect.exit(policy.protect(Effect.succeed(1)))
        expect(failureOf(exit)).toMatchObject({ _tag: "DeadlineExceeded", service: "orpheus" })
        expect(yield* Clock.currentTimeMillis).toBe(0)
        // A shorter closing is waited out.
        yield* policy.layers.retryAfterGate!.open
        yield* policy.layers.retryAfterGate!.closeFor("3 seconds")
        const fiber = yield* Effect.fork(policy.protect(Clock.currentTimeMillis))
        yield* TestClock.adjust("3 seconds")
        expect(yield* Fiber.join(fiber)).toBe(3000)
      }))

    it.effect("a bulkhead queue wait is cut at the deadline with DeadlineExceeded", () =>
      Effect.gen(function*() {
        const policy = yield* build({
          service: "ollama",
          totalTimeout: "5 seconds",
          bulkhead: { maxConcurrent: 1, maxQueue: 10 }
        })
        const holder = yield* Effect.fork(Effect.exit(policy.protect(Effect.never)))
        yield* TestClock.adjust("1 second")
        const queued = yield* Effect.fork(Effect.exit(policy.protect(Effect.succeed(1))))
        yield* TestClock.adjust(0)
        expect((yield* policy.layers.bulkhead!.stats).queued).toBe(1)
        yield* TestClock.adjust("4 seconds")
        // The holder hit its deadline at 5 s; the queued caller's deadline is 6 s.
        expect(failureOf(yield* Fiber.join(holder))).toMatchObject({ _tag: "DeadlineExceeded" })
        const cut = yield* Effect.fork(Effect.exit(policy.protect(Effect.never)))
        yield* TestClock.adjust(0)
        const waiting = yield* Effect.fork(Effect.exit(policy.protect(Effect.succeed(2))))
        yield* TestClock.adjust(0)
        expect(yield* Fiber.join(queued)).toEqual(Exit.succeed(1))
        yield* TestClock.adjust("5 seconds")
        expect(failureOf(yield* Fiber.join(cut))).toMatchObject({ _tag: "DeadlineExceeded" })
        expect(failureOf(yield* Fiber.join(waiting))).toMatchObject({ _tag: "DeadlineExceeded" })
        expect(yield* policy.layers.bulkhead!.stats).toMatchObject({ active: 0, queued: 0 })
      }))
  })

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
