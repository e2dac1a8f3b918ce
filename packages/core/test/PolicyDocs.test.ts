/**
 * Every ```ts block of docs/policy.md is a region of this file, run here as a test;
 * the last test fails when the page and this file drift apart.
 */
import { Errors, Policy } from "@bulwark/core"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Logger, LogLevel, Random } from "effect"
import { relative, runOnTestClock, scripted } from "./utils/scripted.js"

const quiet = Logger.withMinimumLogLevel(LogLevel.None)

describe("docs/policy.md", () => {
  it.effect("standard", () =>
    Effect.gen(function*() {
      const claude = scripted([new Errors.ServerError({ status: 502 })])
      const askClaude = claude.effect
      const exit = yield* runOnTestClock(
        // #region standard
        Effect.gen(function*() {
          const policy = yield* Policy.standard("claude_api")
          return yield* policy.protect(askClaude)
        })
        // #endregion standard
      )
      expect(exit).toEqual(Exit.succeed("ok"))
      expect(claude.calls).toHaveLength(2)
    }).pipe(quiet))

  it.effect("ollama", () =>
    Effect.gen(function*() {
      const ollama = scripted([new Errors.Overloaded({ service: "ollama", status: 503, detail: "server busy" })])
      const generate = ollama.effect
      const exit = yield* runOnTestClock(
        // #region ollama
        Effect.gen(function*() {
          // Seed 002: 300 s per request, 3 retries from 2 s doubling to 60 s, 4 parallel slots.
          const policy = yield* Policy.make({
            service: "ollama",
            totalTimeout: "30 minutes",
            retry: { maxAttempts: 4, base: "2 seconds", maxDelay: "60 seconds", jitter: "none" },
            circuitBreaker: {},
            bulkhead: { maxConcurrent: 4, maxQueue: 256 },
            attemptTimeout: "300 seconds"
          })
          return yield* policy.protect(generate)
        })
        // #endregion ollama
      )
      expect(exit).toEqual(Exit.succeed("ok"))
      expect(relative(ollama.calls)).toEqual([0, 2000])
    }).pipe(quiet))

  it.effect("llm spacing", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const complete = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => starts.push(now)))
      yield* runOnTestClock(
        // #region llm
        Effect.gen(function*() {
          // Seed 001: 5 attempts from 1 s to 60 s with jitter, 30 s per request, 100 ms between requests.
          const policy = yield* Policy.standard("llm", {
            retry: { maxAttempts: 5, base: "1 second", maxDelay: "60 seconds" },
            rateLimiter: { spacing: "100 millis" },
            attemptTimeout: "30 seconds"
          })
          yield* Effect.all([policy.protect(complete), policy.protect(complete), policy.protect(complete)], {
            concurrency: "unbounded"
          })
        })
        // #endregion llm
      )
      expect(relative(starts)).toEqual([0, 100, 200])
    }).pipe(quiet))

  it.effect("failures", () =>
    Effect.gen(function*() {
      const down = scripted(Array(9).fill(new Errors.Unavailable({ service: "agent_http" })))
      const call = down.effect
      const exit = yield* runOnTestClock(
        // #region failures
        Effect.gen(function*() {
          const policy = yield* Policy.standard("agent_http", {
            totalTimeout: "10 seconds",
            attemptTimeout: "5 seconds"
          })
          return yield* policy.protect(call).pipe(
            Effect.catchTags({
              RetriesExhausted: (e) => Effect.succeed(`gave up: ${e.reason} after ${e.attempts} attempts`),
              DeadlineExceeded: (e) => Effect.succeed(`no answer within ${Duration.format(e.after)}`)
            })
          )
        })
        // #endregion failures
      )
      expect(exit).toEqual(Exit.succeed("gave up: max-attempts after 5 attempts"))
    }).pipe(quiet, Effect.withRandom(Random.make("docs"))))

  it.effect("stats", () =>
    Effect.gen(function*() {
      const stats = yield* (
        // #region stats
        Effect.gen(function*() {
          const policy = yield* Policy.standard("claude_api")
          // For a /heartbeat page: the breaker's state, the budget's balance, the gate...
          return yield* policy.stats
        })
        // #endregion stats
      )
      expect(stats).toMatchObject({ service: "claude_api", circuitBreaker: { state: "CLOSED" } })
    }))

  it("every ts block of docs/policy.md is a region of this file", () => expectDocRegions("policy.md", __filename))
})
