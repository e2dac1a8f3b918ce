/**
 * Every ```ts block of docs/limits.md is a region of this file, run here as a test;
 * the last test fails when the page and this file drift apart.
 */
import * as AdaptiveLimiter from "@bulwark/core/AdaptiveLimiter"
import * as Bulkhead from "@bulwark/core/Bulkhead"
import * as Errors from "@bulwark/core/Errors"
import * as RateLimiter from "@bulwark/core/RateLimiter"
import * as Retry from "@bulwark/core/Retry"
import * as RetryAfterGate from "@bulwark/core/RetryAfterGate"
import * as Timeout from "@bulwark/core/Timeout"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either, Exit, Option, Random } from "effect"
import { tracker } from "./utils/concurrency.js"
import { runOnTestClock } from "./utils/scripted.js"

/** Records the clock at each call. */
const recorder = () => {
  const calls: Array<number> = []
  const record = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => calls.push(now)))
  return { calls, record }
}

describe("docs/limits.md", () => {
  it.effect("bulkhead", () =>
    Effect.gen(function*() {
      const work = tracker()
      const prompts = ["a", "b", "c", "d", "e"]
      const generate = (prompt: string) => work.run(Effect.as(Effect.sleep("10 seconds"), prompt.toUpperCase()))
      const exit = yield* runOnTestClock(
        // #region bulkhead
        Effect.gen(function*() {
          // At most 2 generations on the GPU at once; 10 more may wait, each for up to a minute.
          const gpu = yield* Bulkhead.make({
            service: "ollama",
            maxConcurrent: 2,
            maxQueue: 10,
            queueTimeout: "1 minute"
          })
          return yield* Effect.forEach(prompts, (prompt) => gpu.protect(generate(prompt)), { concurrency: "unbounded" })
        })
        // #endregion bulkhead
      )
      expect(exit).toEqual(Exit.succeed(["A", "B", "C", "D", "E"]))
      expect(work.state.max).toBe(2)
      expect(work.state.started).toEqual([0, 0, 10_000, 10_000, 20_000])
    }))

  it.effect("bulkhead rejections", () =>
    Effect.gen(function*() {
      const gpu = yield* Bulkhead.make({ service: "ollama", maxConcurrent: 1 })
      const generate = (_: string) => Effect.as(Effect.sleep("10 seconds"), "done")
      const exit = yield* runOnTestClock(
        Effect.all([
          gpu.protect(generate("first")),
          Effect.zipRight(
            Effect.sleep("1 second"),
            // #region bulkhead-rejections
            gpu.protect(generate("second")).pipe(
              Effect.catchTags({
                BulkheadFull: (e) => Effect.succeed(`busy: ${e.maxConcurrent} running, ${e.maxQueue} waiting`),
                BulkheadQueueTimeout: (e) => Effect.succeed(`no slot after ${Duration.format(e.waited)}`)
              })
            )
            // #endregion bulkhead-rejections
          )
        ], { concurrency: "unbounded" })
      )
      expect(exit).toEqual(Exit.succeed(["done", "busy: 1 running, 0 waiting"]))
    }))

  it.effect("rate limiter: seed 001's 100 ms spacing", () =>
    Effect.gen(function*() {
      const { calls, record } = recorder()
      const prompts = ["a", "b", "c", "d"]
      const complete = (_: string) => record
      yield* runOnTestClock(
        // #region rate-limiter
        Effect.gen(function*() {
          // Seed 001: at least 100 ms between two LLM requests. Callers queue, first come first served.
          const llm = yield* RateLimiter.make({ service: "llm", spacing: "100 millis" })
          return yield* Effect.forEach(prompts, (prompt) => llm.protect(complete(prompt)), { concurrency: "unbounded" })
        })
        // #endregion rate-limiter
      )
      expect(calls).toEqual([0, 100, 200, 300])
    }))

  it.effect("rate limiter: reject mode and a retry", () =>
    Effect.gen(function*() {
      const { calls, record } = recorder()
      const issues = Array.from({ length: 25 }, (_, i) => i)
      const comment = (_: number) => record
      const exit = yield* runOnTestClock(
        // #region rate-limiter-reject
        Effect.gen(function*() {
          // 10 requests per second, bursts of 20; beyond that, fail fast instead of queueing.
          const github = yield* RateLimiter.make({ service: "github", rate: 10, burst: 20, onExceeded: "reject" })
          const policy = yield* Retry.policy({ name: "github", maxAttempts: 5 })
          // The limiter's RateLimited carries retryAfter: the retry waits at least that long, as for a server's 429.
          return yield* Effect.forEach(issues, (issue) => github.protect(comment(issue)).pipe(Retry.retry(policy)), {
            concurrency: "unbounded"
          })
        })
        // #endregion rate-limiter-reject
      ).pipe(Effect.withRandom(Random.make("limits-docs")))
      expect(exit._tag).toBe("Success")
      expect(calls).toHaveLength(25)
      expect(calls.filter((time) => time === 0)).toHaveLength(20)
      for (const time of calls) {
        expect(calls.filter((other) => other >= time && other <= time + 1000).length).toBeLessThanOrEqual(30)
      }
    }))

  it.effect("rate limiter: keyed", () =>
    Effect.gen(function*() {
      const { calls, record } = recorder()
      const createComment = (_: { readonly installationId: number }) => record
      const issues = [{ installationId: 1 }, { installationId: 1 }, { installationId: 2 }]
      yield* runOnTestClock(
        // #region rate-limiter-keyed
        Effect.gen(function*() {
          // One bucket per GitHub installation, each allowing 1 request per second.
          const perInstallation = yield* RateLimiter.keyed<number>({ service: "github", rate: 1 })
          return yield* Effect.forEach(
            issues,
            (issue) => createComment(issue).pipe(perInstallation.protect(issue.installationId)),
            { concurrency: "unbounded" }
          )
        })
        // #endregion rate-limiter-keyed
      )
      expect(calls.sort((a, b) => a - b)).toEqual([0, 0, 1000])
    }))

  it.effect("adaptive limiter", () =>
    Effect.gen(function*() {
      let served = 0
      const prompts = Array.from({ length: 12 }, (_, i) => `prompt ${i}`)
      // The server copes with 2 at once; beyond that it answers 503.
      const generate = (_: string) =>
        Effect.suspend(() => {
          if (served >= 2) return Effect.fail(new Errors.Unavailable({ service: "ollama", status: 503 }))
          served++
          return Effect.ensuring(Effect.sleep("1 second"), Effect.sync(() => served--))
        })
      const exit = yield* runOnTestClock(
        // #region adaptive
        Effect.gen(function*() {
          // Start at 8 concurrent generations; 503s shrink the limit, successes grow it back, within [1, 16].
          const ollama = yield* AdaptiveLimiter.make({ service: "ollama", initialLimit: 8, minLimit: 1, maxLimit: 16 })
          yield* Effect.forEach(prompts, (prompt) => Effect.either(ollama.protect(generate(prompt))), {
            concurrency: "unbounded"
          })
          return yield* ollama.stats // { limit, inflight: 0, queued: 0 }
        })
        // #endregion adaptive
      )
      const stats = Exit.isSuccess(exit) ? exit.value : undefined
      expect(stats?.limit).toBeLessThan(8)
      expect(stats).toMatchObject({ inflight: 0, queued: 0 })
    }))

  it.effect("Retry-After gate", () =>
    Effect.gen(function*() {
      const calls: Array<number> = []
      const jobs = Array.from({ length: 10 }, (_, i) => i)
      const orpheus = {
        generate: (_: number) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            calls.push(now)
            return calls.length === 1
              ? Effect.fail(new Errors.RateLimited({ detail: "GPU busy", retryAfter: Duration.seconds(30) }))
              : Effect.succeed("midi")
          })
      }
      const exit = yield* runOnTestClock(
        // #region gate
        Effect.gen(function*() {
          const gate = yield* RetryAfterGate.make({ service: "orpheus", maxWait: "2 minutes" })
          const policy = yield* Retry.policy({ name: "orpheus", maxAttempts: 3, retryAfter: "override" })
          const generate = (job: number) => gate.protect(orpheus.generate(job)).pipe(Retry.retry(policy))
          // The first job hears "GPU busy, retry after 30 s". The jobs that come after it
          // wait at the gate until then, instead of each asking and hearing 429 again.
          const first = yield* Effect.fork(generate(jobs[0]!))
          yield* Effect.sleep("1 second")
          const rest = yield* Effect.forEach(jobs.slice(1), generate, { concurrency: "unbounded" })
          return [yield* first, ...rest]
        })
        // #endregion gate
      )
      expect(exit).toEqual(Exit.succeed(Array(10).fill("midi")))
      expect(calls).toEqual([0, ...Array(10).fill(30_000)])
    }))

  it.effect("timeouts", () =>
    Effect.gen(function*() {
      const { calls, record } = recorder()
      // The first request hangs; the second answers in 2 s.
      const complete = (_: string) =>
        Effect.zipRight(
          record,
          Effect.suspend(() => calls.length === 1 ? Effect.never : Effect.as(Effect.sleep("2 seconds"), "answer"))
        )
      const prompt = "hello"
      const exit = yield* runOnTestClock(
        // #region timeouts
        Effect.gen(function*() {
          const perAttempt = yield* Timeout.attempt("30 seconds", { service: "llm" }) // seed 001: 30 s per request
          const overall = yield* Timeout.total("2 minutes", { service: "llm" })
          const policy = yield* Retry.policy({ name: "llm", maxAttempts: 5 })
          // AttemptTimedOut is retried; DeadlineExceeded ends everything, retries and sleeps included.
          return yield* complete(prompt).pipe(perAttempt.protect, Retry.retry(policy), overall.protect)
        })
        // #endregion timeouts
      )
      expect(exit).toEqual(Exit.succeed("answer"))
      expect(calls[0]).toBe(0)
      expect(calls[1]).toBeGreaterThanOrEqual(30_000)
    }))

  it.effect("a bound deadline: one fiber per attempt", () =>
    Effect.gen(function*() {
      const { calls, record } = recorder()
      // Every request hangs.
      const complete = (_: string) => Effect.zipRight(record, Effect.never)
      const prompt = "hello"
      const exit = yield* runOnTestClock(
        // #region bound
        Effect.gen(function*() {
          const perAttempt = yield* Timeout.attempt("30 seconds", { service: "llm" })
          const overall = yield* Timeout.total("2 minutes", { service: "llm" })
          const policy = yield* Retry.policy({ name: "llm", maxAttempts: 5 })
          // No fiber for the deadline: each attempt's own fiber is cut at min(30 s, the deadline).
          return yield* complete(prompt).pipe(perAttempt.protect, Retry.retry(policy), overall.bound)
        })
        // #endregion bound
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(calls.length).toBeGreaterThanOrEqual(2)
      expect(Math.max(...calls)).toBeLessThan(120_000)
    }))

  it.effect("the deadline, from inside", () =>
    Effect.gen(function*() {
      const overall = yield* Timeout.total("2 minutes", { service: "llm" })
      const exit = yield* runOnTestClock(
        overall.protect(
          // #region deadline
          Effect.gen(function*() {
            // Inside Timeout.total: how long is left? (None outside any total timeout.)
            const left = yield* Timeout.remaining
            return Option.match(left, { onNone: () => "no deadline", onSome: (d) => `${Duration.format(d)} left` })
          })
          // #endregion deadline
        )
      )
      expect(exit).toEqual(Exit.succeed("2m left"))
    }))

  it.effect("bad options are refused with a typed error", () =>
    Effect.gen(function*() {
      // #region invalid
      const result = yield* Effect.either(AdaptiveLimiter.make({ minLimit: 5, maxLimit: 2 }))
      // Left(InvalidPolicy: invalid adaptive-limiter option maxLimit = 2: expected an integer ≥ minLimit (5))
      // #endregion invalid
      expect(Either.isLeft(result) && result.left.message).toBe(
        "invalid adaptive-limiter option maxLimit = 2: expected an integer ≥ minLimit (5)"
      )
    }))

  it("every ts block of docs/limits.md is a region of this file", () => expectDocRegions("limits.md", __filename))
})
