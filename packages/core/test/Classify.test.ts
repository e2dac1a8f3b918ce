import { Classify, Errors, Retry, Timeout } from "@bulwark/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, FastCheck as fc } from "effect"

describe("Classify", () => {
  it.each(
    [
      [408, "TimedOut", true],
      [429, "RateLimited", true],
      [500, "ServerError", true],
      [502, "ServerError", true],
      [503, "Unavailable", true],
      [504, "ServerError", true],
      [400, "Rejected", false],
      [401, "Rejected", false],
      [403, "Rejected", false],
      [404, "Rejected", false],
      [422, "Rejected", false]
    ] as const
  )("HTTP %d → %s (retryable: %s), as the seeds classify", (status, tag, retryable) => {
    const error = Classify.fromHttpStatus(status, { service: "llm", detail: "nope" })
    expect(error._tag).toBe(tag)
    expect(error.status).toBe(status)
    expect(Classify.isRetryable(error)).toBe(retryable)
    expect(Classify.isRetryableStatus(status)).toBe(retryable)
  })

  it.prop("every status maps to a family whose retryability matches the status rule", [
    fc.integer({ min: 100, max: 599 })
  ], ([status]) => {
    expect(Classify.isRetryable(Classify.fromHttpStatus(status))).toBe(Classify.isRetryableStatus(status))
  })

  it("keeps the hint on transient families and drops it on Rejected", () => {
    const retryAfter = Duration.seconds(30)
    expect(Classify.fromHttpStatus(429, { retryAfter })).toMatchObject({ retryAfter })
    expect(Classify.fromHttpStatus(404, { retryAfter })).not.toHaveProperty("retryAfter")
  })

  it("recognises Effect.timeout's TimeoutException and nothing untagged", () => {
    expect(Classify.isRetryable({ _tag: "TimeoutException" })).toBe(true)
    expect(Classify.isRetryable(new Error("boom"))).toBe(false)
    expect(Classify.isRetryable("RateLimited")).toBe(false)
    expect(Classify.isRetryable(undefined)).toBe(false)
  })

  it("combinators", () => {
    const custom = Classify.or(Classify.isRetryable, Classify.tagged("GpuHiccup"))
    expect(custom({ _tag: "GpuHiccup" })).toBe(true)
    const noRateLimits = Classify.except(Classify.isRetryable, Classify.isRateLimited)
    expect(noRateLimits(new Errors.RateLimited({}))).toBe(false)
    expect(noRateLimits(new Errors.Overloaded({}))).toBe(true)
  })

  it("tells Bulwark's own refusals from the service's failures", () => {
    const localLimiter = new Errors.RateLimited({ service: "llm", detail: "local rate limiter" })
    const server429 = new Errors.RateLimited({ service: "llm", status: 429 })
    expect(Classify.isLocalRejection(localLimiter)).toBe(true)
    expect(Classify.isServiceFailure(localLimiter)).toBe(false)
    expect(Classify.isServiceFailure(server429)).toBe(true)
    for (const tag of ["CircuitOpen", "BulkheadFull", "LimitExceeded", "GateClosed"]) {
      expect(Classify.isRetryable({ _tag: tag })).toBe(true)
      expect(Classify.isServiceFailure({ _tag: tag })).toBe(false)
    }
    expect(Classify.isRetryable({ _tag: "CircuitIsolated" })).toBe(false)
    expect(Classify.isRetryable({ _tag: "AttemptTimedOut" })).toBe(true)
    expect(Classify.isRetryable({ _tag: "DeadlineExceeded" })).toBe(false)
  })

  it("messages say what happened and where", () => {
    const error = new Errors.RateLimited({
      service: "orpheus",
      status: 429,
      detail: "GPU busy",
      retryAfter: Duration.seconds(30)
    })
    expect(error.message).toBe("rate limited from orpheus (HTTP 429): GPU busy; retry after 30s")
    expect(new Errors.TimedOut({ after: Duration.seconds(300) }).message).toBe("timed out after 5m")
  })

  it("isTransient: retryable, a deadline, or a retry that gave up on a transient failure, however nested", () => {
    const gaveUp = (lastError: unknown) =>
      new Retry.RetriesExhausted({
        policy: "p",
        reason: "max-attempts",
        attempts: 3,
        elapsed: Duration.zero,
        lastError,
        retryAfter: undefined
      })
    const unavailable = new Errors.Unavailable({ service: "s" })
    const rejected = new Errors.Rejected({ service: "s", status: 404 })
    expect(Classify.isTransient(unavailable)).toBe(true)
    expect(Classify.isTransient(new Timeout.DeadlineExceeded({ service: "s", after: Duration.seconds(1) }))).toBe(true)
    expect(Classify.isTransient(gaveUp(unavailable))).toBe(true)
    expect(Classify.isTransient(gaveUp(gaveUp(unavailable)))).toBe(true)
    expect(Classify.isTransient(rejected)).toBe(false)
    expect(Classify.isTransient(gaveUp(rejected))).toBe(false)
    expect(Classify.isTransient(new Error("boom"))).toBe(false)
  })
})
