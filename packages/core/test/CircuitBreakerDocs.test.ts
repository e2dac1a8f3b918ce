/**
 * Every ```ts block of docs/circuit-breaker.md is a region of this file, run here
 * as a test; the last test fails when the page and this file drift apart.
 */
import * as Backoff from "@bulwark/core/Backoff"
import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as Errors from "@bulwark/core/Errors"
import * as Retry from "@bulwark/core/Retry"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Either, Exit, Schema, Stream, TestClock } from "effect"
import { relative, runOnTestClock, scripted } from "./utils/scripted.js"

const down = (n: number) => scripted(Array.from({ length: n }, () => new Errors.ServerError({ status: 502 })))

describe("docs/circuit-breaker.md", () => {
  it.effect("basic use", () =>
    Effect.gen(function*() {
      const claude = down(8)
      const callClaude = (_prompt: string) => claude.effect
      const prompts = Array.from({ length: 8 }, (_, i) => `prompt ${i}`)
      const answers = yield* (
        // #region basic
        Effect.gen(function*() {
          // Seed 004's breaker: 5 failures in a row open it for 60 s; 2 probe successes close it.
          const breaker = yield* CircuitBreaker.make({ service: "claude_api" })
          return yield* Effect.forEach(prompts, (prompt) => Effect.either(breaker.protect(callClaude(prompt))))
        })
        // #endregion basic
      )
      expect(claude.calls).toHaveLength(5)
      expect(answers.map((answer) => Either.isLeft(answer) && answer.left._tag)).toEqual([
        ...Array(5).fill("ServerError"),
        ...Array(3).fill("CircuitOpen")
      ])
    }))

  it.effect("with a retry outside", () =>
    Effect.gen(function*() {
      const claude = down(5)
      const callClaude = claude.effect
      const exit = yield* runOnTestClock(
        // #region with-retry
        Effect.gen(function*() {
          const breaker = yield* CircuitBreaker.make({ service: "claude_api", openDuration: "30 seconds" })
          // CircuitOpen is retryable by default, and its retryAfter says exactly how long to wait.
          const policy = yield* Retry.policy({ name: "claude_api", maxAttempts: 10 })
          // The breaker inside the retry: it is checked before every attempt (seed 004's order).
          return yield* callClaude.pipe(breaker.protect, Retry.retry(policy))
        })
        // #endregion with-retry
      )
      expect(exit).toEqual(Exit.succeed("ok"))
      // Five failures, then nothing reaches the service until the probe, 30 s or more after it opened.
      const calls = relative(claude.calls)
      expect(calls).toHaveLength(6)
      expect(calls[5]! - calls[4]!).toBeGreaterThanOrEqual(30_000)
    }))

  it.effect("a registry for every service", () =>
    Effect.gen(function*() {
      const callClaude = (_prompt: string) => Effect.succeed("hello")
      const fetchAgent = Effect.fail(new Errors.Unavailable({ status: 503 }))
      const stats = yield* (
        // #region registry
        Effect.gen(function*() {
          const breakers = yield* CircuitBreakers.CircuitBreakers
          yield* callClaude("hi").pipe(breakers.protect("claude_api"))
          yield* fetchAgent.pipe(breakers.protect("agent_http"), Effect.ignore)
          return yield* breakers.stats // everything a /heartbeat page shows
        }).pipe(
          Effect.provide(CircuitBreakers.layer({
            defaults: { openDuration: "2 minutes" }, // seed 003's cooldown
            byName: { agent_http: { trip: CircuitBreaker.consecutiveFailures(3) } }
          }))
        )
        // #endregion registry
      )
      expect(stats.map(({ consecutiveFailures, service, state }) => [service, state, consecutiveFailures])).toEqual([
        ["claude_api", "CLOSED", 0],
        ["agent_http", "CLOSED", 1]
      ])
    }))

  it.effect("trip strategies", () =>
    Effect.gen(function*() {
      const breaker = yield* (
        // #region strategies
        CircuitBreaker.make({
          service: "ollama",
          trip: [
            // Half of the calls of the last 30 s failed, once there were at least 10 of them...
            CircuitBreaker.failureRatio({ ratio: 0.5, duration: "30 seconds", minimumThroughput: 10 }),
            // ...or 8 of the last 10 calls took longer than 20 s.
            CircuitBreaker.slowCalls({ threshold: "20 seconds", ratio: 0.8, size: 10 })
          ]
        })
        // #endregion strategies
      )
      for (let i = 0; i < 9; i++) {
        yield* Effect.exit(breaker.protect(i % 2 === 0 ? Effect.fail(new Errors.Overloaded({})) : Effect.void))
      }
      expect(yield* breaker.state).toBe("CLOSED")
      yield* Effect.exit(breaker.protect(Effect.fail(new Errors.Overloaded({}))))
      expect(yield* breaker.state).toBe("OPEN")
    }))

  it.effect("an open duration that backs off", () =>
    Effect.gen(function*() {
      const breaker = yield* (
        // #region schedule
        Effect.gen(function*() {
          // 30 s, then 1 min, 2 min, ... up to 10 min while probes keep failing; back to 30 s once closed.
          const openDuration = yield* Backoff.exponential({
            base: "30 seconds",
            maxDelay: "10 minutes",
            jitter: "none"
          })
          return yield* CircuitBreaker.make({ service: "agent_http", openDuration })
        })
        // #endregion schedule
      )
      const seconds: Array<number> = []
      for (let i = 0; i < 5; i++) yield* Effect.exit(breaker.protect(Effect.fail(new Errors.ServerError({}))))
      for (let i = 0; i < 3; i++) {
        const left = (yield* breaker.stats).secondsUntilRetry!
        seconds.push(left)
        yield* TestClock.adjust(left * 1000)
        yield* Effect.exit(breaker.protect(Effect.fail(new Errors.ServerError({}))))
      }
      expect(seconds).toEqual([30, 60, 120])
    }))

  it.effect("isolation for a maintenance window", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ service: "agent_http" })
      const refused: Array<string> = []
      const migrateDatabase = Effect.flatMap(Effect.either(breaker.protect(Effect.void)), (result) =>
        Effect.sync(() => {
          if (Either.isLeft(result)) refused.push(result.left._tag)
        }))
      yield* (
        // #region isolate
        Effect.scoped(Effect.gen(function*() {
          yield* breaker.isolateScoped // calls fail at once with CircuitIsolated...
          yield* migrateDatabase
        })) // ...until the scope closes and the breaker is back to CLOSED
        // #endregion isolate
      )
      expect(refused).toEqual(["CircuitIsolated"])
      expect(yield* breaker.state).toBe("CLOSED")
    }))

  it.scoped("watching state changes", () =>
    Effect.gen(function*() {
      const breakers = yield* CircuitBreakers.make()
      const alerted = yield* Deferred.make<string>()
      const alert = (text: string) => Deferred.succeed(alerted, text)
      // #region changes
      const changes = yield* breakers.subscribe
      yield* changes.pipe(
        Stream.runForEach((change) => alert(`${change.service}: ${change.from} -> ${change.to} (${change.reason})`)),
        Effect.forkScoped
      )
      // #endregion changes
      for (let i = 0; i < 5; i++) {
        yield* Effect.exit(Effect.fail(new Errors.ServerError({})).pipe(breakers.protect("claude_api")))
      }
      expect(yield* Deferred.await(alerted)).toBe("claude_api: CLOSED -> OPEN (tripped)")
    }))

  it.effect("snapshot and restore", () =>
    Effect.gen(function*() {
      const breakers = yield* CircuitBreakers.make()
      for (let i = 0; i < 5; i++) {
        yield* Effect.exit(Effect.fail(new Errors.ServerError({})).pipe(breakers.protect("claude_api")))
      }
      const restored = yield* (
        // #region snapshot
        Effect.gen(function*() {
          const Saved = Schema.parseJson(Schema.Array(CircuitBreaker.Snapshot))
          const json = yield* Schema.encode(Saved)(yield* breakers.snapshot) // on shutdown: write it somewhere
          // ...and in the next process:
          const restore = yield* Schema.decodeUnknown(Saved)(json)
          return yield* CircuitBreakers.make({ restore })
        })
        // #endregion snapshot
      )
      yield* TestClock.adjust("10 seconds")
      expect((yield* restored.stats).map(({ secondsUntilRetry, state }) => [state, secondsUntilRetry])).toEqual([
        ["OPEN", 50]
      ])
    }))

  it.effect("from the environment", () =>
    Effect.gen(function*() {
      const env = ConfigProvider.fromMap(
        new Map([["CIRCUIT_DEFAULT_OPEN_DURATION", "2 minutes"], ["CIRCUIT_CLAUDE_API_FAILURE_THRESHOLD", "3"]]),
        { pathDelim: "_" }
      )
      const settings = yield* Effect.gen(function*() {
        // #region config
        // CIRCUIT_DEFAULT_OPEN_DURATION="2 minutes" CIRCUIT_CLAUDE_API_FAILURE_THRESHOLD=3
        const layer = CircuitBreakers.layerConfig({ names: ["claude_api", "agent_http"] })
        // #endregion config
        return yield* Effect.flatMap(CircuitBreakers.CircuitBreakers, (breakers) =>
          Effect.all([breakers.get("claude_api"), breakers.get("agent_http")])).pipe(Effect.provide(layer))
      }).pipe(Effect.withConfigProvider(env))
      expect(settings.map((breaker) => [breaker.settings.trip, breaker.settings.openDuration])).toEqual([
        [[{ _tag: "ConsecutiveFailures", threshold: 3 }], 120_000],
        [[{ _tag: "ConsecutiveFailures", threshold: 5 }], 120_000]
      ])
    }))

  it("bad options are refused with a typed error", () => {
    // #region invalid
    const result = CircuitBreaker.settings({ trip: CircuitBreaker.failureRatio({ ratio: 1.5 }) })
    // Left(InvalidPolicy: invalid circuit-breaker option trip.ratio = 1.5: expected a number in (0, 1])
    // #endregion invalid
    expect(Either.isLeft(result) && result.left.message).toBe(
      "invalid circuit-breaker option trip.ratio = 1.5: expected a number in (0, 1]"
    )
  })

  it("every ts block of docs/circuit-breaker.md is a region of this file", () =>
    expectDocRegions("circuit-breaker.md", __filename))
})
