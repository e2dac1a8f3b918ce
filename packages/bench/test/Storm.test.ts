import * as Retry from "@bulwark/core/Retry"
import * as RetryBudget from "@bulwark/core/RetryBudget"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import * as Storm from "../src/benchmarks/storm.js"
import { validate } from "../src/Simulation.js"

/** A short storm: 1 s healthy, 2 s down, 3 s healthy, 20 requests a second. */
const small: Storm.Scenario = {
  requestsPerSecond: 20,
  batchMillis: 100,
  capacityPerSecond: 25,
  healthyBeforeMillis: 1000,
  outageMillis: 2000,
  healthyAfterMillis: 3000,
  seed: 7
}

const peer = (name: string) => Storm.peers.find((candidate) => candidate.name === name)!

const passThrough: Storm.StormPeer = { name: "no retry", make: Effect.succeed((call) => call) }

describe("Storm", () => {
  describe("the simulated service", () => {
    it("fails every call during the outage and none outside it, under its capacity", () => {
      const outcome = Storm.simulate(passThrough, small)
      expect(outcome).toEqual({
        requests: 120,
        outageRequests: 40,
        calls: 120,
        outageCalls: 40,
        succeeded: 80,
        peakCallsPerSecond: 20,
        overloaded: 0,
        lastServiceFailure: 2900,
        lastCallerFailure: 2900,
        end: 6000
      })
    })

    it("refuses the calls over its capacity in each calendar second", () => {
      const outcome = Storm.simulate(passThrough, { ...small, requestsPerSecond: 40, outageMillis: 0 })
      // 40 a second against 25: 15 refused in each of 4 seconds.
      expect(outcome).toMatchObject({
        requests: 160,
        calls: 160,
        succeeded: 100,
        overloaded: 60,
        peakCallsPerSecond: 40
      })
    })
  })

  describe("peers", () => {
    it("naive retry(3) calls four times per request during the outage", () => {
      const outcome = Storm.simulate(peer("naive retry(3)"), small)
      expect(outcome).toMatchObject({ requests: 120, calls: 120 + 3 * 40, outageCalls: 160, succeeded: 80 })
      expect(Storm.row("naive", outcome, small)).toMatchObject({ amplification: 4, overallAmplification: 2 })
    })

    it("a budget with no reserve allows `ratio` of the deposits of the last ttl in retries", () => {
      const budgeted: Storm.StormPeer = {
        name: "budget",
        make: Effect.gen(function*() {
          const budget = yield* RetryBudget.make({ ratio: 0.1, minRetriesPerSecond: 0, ttl: "10 seconds" })
          const policy = yield* Retry.policy({ maxAttempts: 4, base: "200 millis", budget })
          return (call) => Retry.retry(call, policy)
        })
      }
      const outcome = Storm.simulate(budgeted, small)
      // 20 deposits before the outage and 40 during it are worth 6 retries; the 10 s window never turns over.
      expect(outcome.outageCalls).toBe(40 + 6)
    })

    it("are the same on every run", () => {
      for (const candidate of Storm.peers) {
        expect(Storm.simulate(candidate, small)).toEqual(Storm.simulate(candidate, small))
      }
    })

    it.effect("give TestClock's numbers", () =>
      Effect.gen(function*() {
        for (const name of ["bulwark retry", "bulwark retry + budget + breaker"]) {
          const fiber = yield* Effect.fork(Storm.play(peer(name), small))
          yield* TestClock.adjust("1 minute")
          const underTestClock = yield* Fiber.join(fiber)
          expect(Storm.simulate(peer(name), small)).toEqual(underTestClock)
        }
      }), 30_000)
  })

  describe("row", () => {
    const outcome: Storm.Outcome = {
      requests: 3000,
      outageRequests: 1000,
      calls: 3300,
      outageCalls: 1250,
      succeeded: 2400,
      peakCallsPerSecond: 90,
      overloaded: 12,
      lastServiceFailure: 31_500,
      lastCallerFailure: 29_000,
      end: 60_000
    }

    it("measures amplification per request and recovery from the outage's end", () => {
      expect(Storm.row("peer", outcome)).toEqual({
        name: "peer",
        outageMs: 20_000,
        requests: 3000,
        outageRequests: 1000,
        calls: 3300,
        amplification: 1.25,
        overallAmplification: 1.1,
        peakCallsPerSecond: 90,
        overloaded: 12,
        recoveryMs: 1500,
        callerRecoveryMs: 0,
        successRatio: 0.8
      })
    })

    it("counts no recovery when nothing failed", () => {
      const clean = { ...outcome, lastServiceFailure: undefined, lastCallerFailure: undefined }
      expect(Storm.row("peer", clean)).toMatchObject({ recoveryMs: 0, callerRecoveryMs: 0 })
    })

    it("has every column the benchmark shows", () => {
      expect(() => validate(Storm.benchmark, [Storm.row("peer", outcome)])).not.toThrow()
    })
  })

  it("judges the budget's amplification in the issue's scenario", async () => {
    const rows = await Storm.benchmark.run()
    expect(rows.map((row) => row.name)).toEqual(Storm.runs.map((run) => run.name))
    const verdict = Storm.benchmark.verdict!(rows)
    const budgeted = rows.find((row) => row.name === "bulwark retry + budget")!
    expect(verdict.ok).toBe((budgeted.amplification as number) <= Storm.amplificationGoal)
    expect(verdict.text).toMatch(/^bulwark retry \+ budget: amplification ×\d\.\d{3} (≤|>) ×1\.1 over a 20 s outage/)
    const failing = rows.map((row) => row === budgeted ? { ...row, amplification: 1.2 } : row)
    expect(Storm.benchmark.verdict!(failing)).toMatchObject({ ok: false })
  })
})
