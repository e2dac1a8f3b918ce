import { Errors, Retry } from "@bulwark/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, FiberRef, HashSet, Logger, LogLevel, TestClock } from "effect"
import * as Timeline from "../src/Timeline.js"

/** Runs `self` with a fresh timeline as the only logger; returns its entries. */
const record = <A, E>(self: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const timeline = yield* Timeline.make()
    yield* timeline.begin
    yield* Effect.either(
      self.pipe(
        Effect.locally(FiberRef.currentLoggers, HashSet.make(timeline.logger)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
    )
    return yield* timeline.entries
  })

describe("Timeline", () => {
  it.effect("reads the retry policy's own lines: a retry of the LLM, then giving up, at their times", () =>
    Effect.gen(function*() {
      const policy = yield* Retry.policy({ name: "llm", maxAttempts: 2, base: "1 second", jitter: "none" })
      const busy = Effect.fail(new Errors.RateLimited({ service: "llm", status: 429, detail: "slow down" }))
      const fiber = yield* Effect.fork(
        record(busy.pipe(Retry.retry(policy), Effect.annotateLogs({ issue: "octo-org/hello#1" })))
      )
      yield* TestClock.adjust("5 seconds")
      const entries = yield* Fiber.join(fiber)
      expect(entries).toEqual([
        {
          at: 0,
          level: "request",
          kind: "retry",
          label: "LLM",
          subject: "octo-org/hello#1",
          text: "LLM attempt 1/2 failed: 429 RateLimited, retrying in 1.0s"
        },
        {
          at: 1000,
          level: "request",
          kind: "gave-up",
          label: "LLM",
          subject: "octo-org/hello#1",
          text: "LLM attempt 2/2 failed: 429 RateLimited, giving up (no attempts left)"
        }
      ])
      expect(entries.map(Timeline.format)).toEqual([
        "T=0.00s   request  octo-org/hello#1  LLM attempt 1/2 failed: 429 RateLimited, retrying in 1.0s",
        "T=1.00s   request  octo-org/hello#1  LLM attempt 2/2 failed: 429 RateLimited, giving up (no attempts left)"
      ])
    }))

  it.effect("a comment's free rate-limited retry is the tool level; the token exchange is the request level", () =>
    Effect.gen(function*() {
      const entries = yield* record(Effect.all([
        Effect.logWarning(
          "[Attempt 1/3] github failed: RateLimited rate limited from github (HTTP 403); retry after 1s. " +
            "Retrying in 1.0s (rate limited: not counted as an attempt)"
        ),
        Effect.logWarning(
          "[Attempt 1/5] github-app-token failed: Unavailable unavailable from github-app-token (HTTP 503); " +
            "retry after 3s. Retrying in 3.0s"
        ),
        Effect.logDebug("GitHub installation token minted"),
        Effect.logWarning("Retry-After gate for github closed for 1s (RateLimited)")
      ]))
      expect(entries.map(({ kind, label, level, text }) => ({ level, kind, label, text }))).toEqual([
        {
          level: "tool",
          kind: "retry",
          label: "comment",
          text: "comment attempt 1/3 failed: 403 RateLimited, retrying in 1.0s (rate limited: attempt not counted)"
        },
        {
          level: "request",
          kind: "retry",
          label: "token API",
          text: "token API attempt 1/5 failed: 503 Unavailable, retrying in 3.0s"
        },
        { level: "request", kind: "note", label: undefined, text: "token API: installation token minted" },
        {
          level: "tool",
          kind: "note",
          label: undefined,
          text: "comment Retry-After gate closed for 1s (RateLimited): every caller waits"
        }
      ])
    }))

  it.effect("the supervisor's lines are the job level, attached to the issue its job was seen with", () =>
    Effect.gen(function*() {
      const entries = yield* record(Effect.all([
        Timeline.note("job", "attempt 1/5 started").pipe(Effect.annotateLogs({ job: "abc-123", issue: "o/r#7" })),
        Effect.logWarning("Re-queuing job abc-123 (attempt 1/5) after 1s").pipe(
          Effect.annotateLogs({ job: "abc-123" })
        ),
        Effect.logWarning("Re-queuing job abc-123 (rate limited 1/20, attempt not counted) after 2s").pipe(
          Effect.annotateLogs({ job: "abc-123" })
        ),
        Effect.logError(
          "Job def-456 failed (attempt 1/5): github refused post-comment (HttpRejected HTTP 404): Not Found"
        )
          .pipe(Effect.annotateLogs({ job: "def-456" })),
        Effect.logInfo("an unrelated line"),
        Effect.logWarning("llm POST attempt 1 failed: rate limited from llm (HTTP 429)")
      ]))
      expect(entries.map((entry) => [entry.level, entry.kind, entry.subject, entry.text])).toEqual([
        ["job", "note", "o/r#7", "attempt 1/5 started"],
        ["job", "requeue", "o/r#7", "re-queued (attempt 1/5) after 1s"],
        ["job", "requeue", "o/r#7", "re-queued (rate limited 1/20, attempt not counted) after 2s"],
        [
          "job",
          "failed",
          "-",
          "failed for good (attempt 1/5): github refused post-comment (HttpRejected HTTP 404): Not Found"
        ]
      ])
    }))

  it("totals and the printed lines: the three layers from the top, as the seed's diagram", () => {
    const entry = (at: number, level: Timeline.Level, kind: Timeline.Kind, label: string | undefined) => ({
      at,
      level,
      kind,
      subject: "o/r#1",
      text: `${kind} ${label ?? ""}`.trim(),
      label
    })
    const entries = [
      entry(10, "request", "retry", "LLM"),
      entry(20, "request", "retry", "LLM"),
      entry(30, "request", "gave-up", "LLM"),
      entry(31, "job", "requeue", undefined),
      entry(1500, "request", "retry", "token API"),
      entry(2500, "tool", "retry", "comment"),
      entry(3000, "job", "failed", undefined)
    ]
    expect(Timeline.totals(entries)).toEqual({
      retries: { request: { LLM: 2, "token API": 1 }, tool: { comment: 1 }, job: {} },
      gaveUp: { LLM: 1 },
      requeues: 1,
      failed: 1
    })
    expect(Timeline.render(entries)).toEqual([
      "T         layer    issue             what happened",
      "T=0.01s   request  o/r#1             retry LLM",
      "T=0.02s   request  o/r#1             retry LLM",
      "T=0.03s   request  o/r#1             gave-up LLM",
      "T=0.03s   job      o/r#1             requeue",
      "T=1.50s   request  o/r#1             retry token API",
      "T=2.50s   tool     o/r#1             retry comment",
      "T=3.00s   job      o/r#1             failed",
      "",
      "job level:     1 re-queue, 1 job failed for good",
      "tool level:    1 retry (comment 1)",
      "request level: 3 retries (LLM 2, token API 1), then gave up: 1 call (LLM 1)"
    ])
  })
})
