import * as Errors from "@bulwark/core/Errors"
import * as Retry from "@bulwark/core/Retry"
import * as Timeout from "@bulwark/core/Timeout"
import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import * as Outcome from "../src/Outcome.js"
import type { Problem } from "../src/Problems.js"

const exhausted = (lastError: unknown) =>
  new Retry.RetriesExhausted({
    policy: "ollama",
    reason: "max-attempts",
    attempts: 4,
    elapsed: Duration.seconds(14),
    lastError,
    retryAfter: undefined
  })

describe("Outcome", () => {
  it("a failure's kind is its last error's after retries, as the seed's 'Max retries exceeded: ReadTimeout'", () => {
    const timedOut = new Timeout.AttemptTimedOut({ service: "ollama", after: Duration.seconds(300) })
    const busy = new Errors.Overloaded({ service: "ollama", status: 503, detail: "server busy" })
    expect(Outcome.kindOf(exhausted(timedOut))).toBe("timeout")
    expect(Outcome.kindOf(exhausted(busy))).toBe("overloaded")
    expect(Outcome.kindOf(exhausted(new Errors.RateLimited({ status: 429 })))).toBe("rate-limited")
    expect(Outcome.kindOf(exhausted(new Errors.ConnectionFailed({})))).toBe("connection")
    expect(Outcome.kindOf(new Errors.ServerError({ status: 500 }))).toBe("server-error")
    expect(Outcome.kindOf(new Error("boom"))).toBe("other")
    // the seed waits for capacity after overload and timeouts, not after a refused connection
    expect(Outcome.isOverloaded(exhausted(timedOut))).toBe(true)
    expect(Outcome.isOverloaded(exhausted(busy))).toBe(true)
    expect(Outcome.isOverloaded(exhausted(new Errors.ConnectionFailed({})))).toBe(false)
  })

  it("counts passed, failed and errors by kind; retries are requests beyond one per problem sent", () => {
    const problem = { index: 0, id: "KZ/0", entryPoint: "add", prompt: "", expect: [] } satisfies Problem
    const common = { problem, millis: 10, attempts: 1, retried: [] }
    const report: Outcome.ModelReport = {
      model: "m",
      results: [
        { ...common, _tag: "Passed" },
        { ...common, _tag: "Failed" },
        { ...common, _tag: "Errored", kind: "timeout", message: "", overloaded: true, attempts: 4 }
      ],
      notRun: 7,
      skipped: undefined,
      millis: 100,
      requests: 6,
      busy: 0,
      timeouts: 4
    }
    expect(Outcome.counts(report)).toEqual({
      passed: 1,
      failed: 1,
      errored: 1,
      errors: { timeout: 1 },
      notRun: 7,
      retries: 3
    })
  })
})
