import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as fc from "effect/FastCheck"
import * as Faults from "../src/Faults.js"
import * as Seeded from "../src/internal/seeded.js"

const millis = fc.integer({ min: 0, max: 3_600_000 })

const distribution: fc.Arbitrary<Faults.Distribution> = fc.oneof(
  millis.map((millis) => ({ _tag: "Fixed" as const, millis })),
  fc.tuple(millis, millis).map(([a, b]) => ({ _tag: "Uniform" as const, min: Math.min(a, b), max: Math.max(a, b) })),
  millis.map((mean) => ({ _tag: "Exponential" as const, mean })),
  fc.tuple(millis, millis).map(([mean, deviation]) => ({ _tag: "Normal" as const, mean, deviation }))
)

const fault: fc.Arbitrary<Faults.Fault> = fc.oneof(
  fc.integer({ min: 400, max: 599 }).map((status) => ({ _tag: "Status" as const, status })),
  distribution.map((distribution) => ({ _tag: "Latency" as const, distribution })),
  millis.map((millis) => ({ _tag: "SlowBody" as const, millis })),
  fc.constantFrom<Faults.Fault>({ _tag: "Reset" }, { _tag: "WrongContentType" }, { _tag: "TruncatedJson" })
)

const rule: fc.Arbitrary<Faults.Rule> = fc.record({
  fault,
  probability: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 1000 }).map((n) => n / 1000)),
  window: fc.oneof(
    fc.constant([0, Infinity] as const),
    fc.tuple(millis, fc.option(fc.integer({ min: 1, max: 3_600_000 }), { nil: undefined })).map(([from, span]) =>
      [from, span === undefined ? Infinity : from + span] as const
    )
  )
}).map(({ fault, probability, window: [fromMillis, toMillis] }) => ({ fault, probability, fromMillis, toMillis }))

const timeline = fc.record({ seed: fc.integer({ min: 0, max: 999_999_999 }), rules: fc.array(rule, { maxLength: 6 }) })

const parsed = (spec: string) => Either.getOrThrow(Faults.parse(spec))

describe("Faults", () => {
  describe("parse", () => {
    it("reads the example of the docs", () => {
      expect(parsed("seed=7; status=503@5s-15s; status=500~0.1; latency=20ms..80ms; reset~0.01@60s-")).toEqual({
        seed: 7,
        rules: [
          { fault: { _tag: "Status", status: 503 }, probability: 1, fromMillis: 5000, toMillis: 15000 },
          { fault: { _tag: "Status", status: 500 }, probability: 0.1, fromMillis: 0, toMillis: Infinity },
          {
            fault: { _tag: "Latency", distribution: { _tag: "Uniform", min: 20, max: 80 } },
            probability: 1,
            fromMillis: 0,
            toMillis: Infinity
          },
          { fault: { _tag: "Reset" }, probability: 0.01, fromMillis: 60000, toMillis: Infinity }
        ]
      })
      expect(parsed("")).toEqual(Faults.none)
      expect(parsed(" latency = exp(1.5s) ; slow-body=2m ;; truncated-json@1s-2s~0.5 ")).toMatchObject({
        rules: [
          { fault: { _tag: "Latency", distribution: { _tag: "Exponential", mean: 1500 } } },
          { fault: { _tag: "SlowBody", millis: 120_000 } },
          { fault: { _tag: "TruncatedJson" }, probability: 0.5, fromMillis: 1000, toMillis: 2000 }
        ]
      })
    })

    it.each([
      ["status=5xx", "status must be an HTTP error status 400-599"],
      ["status=700", "status must be an HTTP error status 400-599"],
      ["status=399", "status must be an HTTP error status 400-599"],
      ["status=204", "status must be an HTTP error status 400-599"],
      ["status=304", "status must be an HTTP error status 400-599"],
      ["status=101", "status must be an HTTP error status 400-599"],
      ["status", "status must be an HTTP error status 400-599"],
      ["latency=fast", "is not a duration"],
      ["latency=-5ms", "is not a duration"],
      ["latency=80ms..20ms", "ends before it starts"],
      ["latency=exp(1s,2s)", "exp() takes one duration"],
      ["latency=normal(1s)", "normal() takes two durations"],
      ["reset=1", "reset takes no value"],
      ["explode", "unknown fault \"explode\""],
      ["status=503~1.5", "probability must be a number in [0, 1]"],
      ["status=503~NaN", "probability must be a number in [0, 1]"],
      ["status=503@15s-5s", "is empty"],
      ["status=503@5s", "window must be from-to"],
      ["seed=-1", "seed must be a whole number"],
      ["latency=1e999s", "is not a duration"]
    ])("refuses %s, naming the clause", (clause, reason) => {
      const result = Faults.parse(`seed=1; ${clause}`)
      expect(Either.isLeft(result)).toBe(true)
      const error = Either.flip(result).pipe(Either.getOrThrow)
      expect(error).toBeInstanceOf(Faults.InvalidFaultSpec)
      expect(error.clause).toBe(clause)
      expect(error.message).toContain(reason)
    })

    it.prop("format and parse are inverses", [timeline], ([timeline]) => {
      expect(parsed(Faults.format(timeline))).toEqual(timeline)
    })

    it.prop("never throws", [fc.string()], ([spec]) => {
      expect(() => Faults.parse(spec)).not.toThrow()
    })
  })

  describe("decide", () => {
    it("applies a window [from, to) of emulator time", () => {
      const timeline = parsed("status=503@5s-15s")
      const at = (elapsed: number) => Faults.decide(timeline, elapsed, () => 0).status
      expect([at(0), at(4_999), at(5_000), at(14_999), at(15_000)]).toEqual([
        undefined,
        undefined,
        503,
        503,
        undefined
      ])
      expect(Faults.decide(timeline, 6_000, () => 0).statusEndsInMillis).toBe(9_000)
    })

    it("gives the window's end as a hint only when the rule strikes every request", () => {
      const sometimes = Faults.decide(parsed("status=500~0.1@0s-60s"), 1_000, () => 0)
      expect(sometimes).toMatchObject({ status: 500, statusEndsInMillis: undefined })
      const always = Faults.decide(parsed("status=503~1@0s-60s"), 1_000, () => 0)
      expect(always).toMatchObject({ status: 503, statusEndsInMillis: 59_000 })
    })

    it("adds latencies, keeps the first status and the longest slow body", () => {
      const decision = Faults.decide(
        parsed("latency=10ms; status=429; status=500; latency=5ms; slow-body=1s; slow-body=3s; reset"),
        0,
        () => 0
      )
      expect(decision).toEqual({
        delayMillis: 15,
        status: 429,
        statusEndsInMillis: undefined,
        reset: true,
        slowBodyMillis: 3000,
        wrongContentType: false,
        truncatedJson: false
      })
    })

    it("strikes with the rule's probability, the same way for the same seed", () => {
      const timeline = parsed("status=500~0.1")
      const run = (seed: number) => {
        const uniform = Seeded.generator(seed)
        return Array.from({ length: 10_000 }, () => Faults.decide(timeline, 0, uniform).status)
      }
      const errors = run(3).filter((status) => status === 500).length
      expect(errors).toBeGreaterThan(900)
      expect(errors).toBeLessThan(1100)
      expect(run(3)).toEqual(run(3))
    })

    it.prop(
      "never yields a negative or non-finite delay",
      [timeline, millis, fc.integer()],
      ([timeline, elapsed, seed]) => {
        const decision = Faults.decide(timeline, elapsed, Seeded.generator(seed))
        expect(Number.isFinite(decision.delayMillis) && decision.delayMillis >= 0).toBe(true)
        expect(decision.slowBodyMillis).toBeGreaterThanOrEqual(0)
        if (decision.statusEndsInMillis !== undefined) expect(decision.statusEndsInMillis).toBeGreaterThan(0)
      }
    )
  })
})
