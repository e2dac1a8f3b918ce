import { Backoff } from "@bulwark/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, FastCheck as fc, Random, Schedule } from "effect"

/** The first `n` delays of a schedule, in milliseconds, with a seeded Random. */
const delays = (schedule: Backoff.Backoff, n: number, seed: unknown = "bulwark") =>
  Schedule.run(schedule, 0, Array.from({ length: n })).pipe(
    Effect.map((outputs) => Chunk.toReadonlyArray(outputs).map(Duration.toMillis)),
    Effect.withRandom(Random.make(seed)),
    Effect.runSync
  )

const valid = <A, E>(either: Either.Either<A, E>): A => Either.getOrThrowWith(either, (e) => new Error(String(e)))

const arbitraryExponential = fc.record({
  base: fc.integer({ min: 0, max: 10_000 }),
  factor: fc.double({ min: 1, max: 4, noNaN: true }),
  extra: fc.integer({ min: 0, max: 120_000 }),
  jitter: fc.constantFrom(...Backoff.jitters),
  seed: fc.integer()
})

describe("Backoff", () => {
  it("exponential without jitter doubles from base up to the cap", () => {
    const schedule = valid(Backoff.exponential({ base: "1 second", maxDelay: "10 seconds" }))
    expect(delays(schedule, 6)).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000])
  })

  it("exponential takes the seed 002 numbers: 2 s doubling to 60 s", () => {
    const schedule = valid(Backoff.exponential({ base: "2 seconds", factor: 2, maxDelay: "60 seconds" }))
    expect(delays(schedule, 7)).toEqual([2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000])
  })

  it("linear and constant", () => {
    expect(delays(valid(Backoff.linear({ base: 100, step: 50, maxDelay: 250 })), 5)).toEqual([100, 150, 200, 250, 250])
    expect(delays(valid(Backoff.linear({ base: 100 })), 3)).toEqual([100, 200, 300])
    expect(delays(valid(Backoff.constant("250 millis")), 3)).toEqual([250, 250, 250])
  })

  it("the same seed gives the same jitter, another seed another", () => {
    const schedule = valid(Backoff.exponential({ base: 1000, maxDelay: 60_000, jitter: "full" }))
    expect(delays(schedule, 8, 1)).toEqual(delays(schedule, 8, 1))
    expect(delays(schedule, 8, 1)).not.toEqual(delays(schedule, 8, 2))
  })

  it("composes with Effect's own combinators", () => {
    const schedule = valid(Backoff.exponential({ base: 100 })).pipe(Schedule.intersect(Schedule.recurs(2)))
    const outputs = Effect.runSync(Schedule.run(schedule, 0, [1, 2, 3, 4]))
    expect(Chunk.size(outputs)).toBe(3)
  })

  it.prop("every delay lies in [0, maxDelay]", [arbitraryExponential], ([{ base, extra, factor, jitter, seed }]) => {
    const cap = base + extra
    const schedule = valid(Backoff.exponential({ base, factor, maxDelay: cap, jitter }))
    for (const delay of delays(schedule, 30, seed)) {
      expect(delay).toBeGreaterThanOrEqual(0)
      expect(delay).toBeLessThanOrEqual(cap)
      expect(Number.isInteger(delay)).toBe(true)
    }
  })

  it.prop("jitter stays within its AWS bounds", [arbitraryExponential], ([{ base, extra, factor, jitter, seed }]) => {
    const cap = base + extra
    const raw = valid(Backoff.exponential({ base, factor, maxDelay: cap }))
    const jittered = valid(Backoff.exponential({ base, factor, maxDelay: cap, jitter }))
    const raws = delays(raw, 20)
    delays(jittered, 20, seed).forEach((delay, n) => {
      const ceiling = raws[n]!
      if (jitter === "none") expect(delay).toBe(ceiling)
      if (jitter === "full") expect(delay).toBeLessThanOrEqual(ceiling)
      if (jitter === "equal") {
        expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling / 2))
        expect(delay).toBeLessThanOrEqual(ceiling)
      }
      if (jitter === "decorrelated") expect(delay).toBeGreaterThanOrEqual(Math.min(base, cap))
    })
  })

  it.prop(
    "full jitter's mean is within 5% of half the exponential delay",
    [fc.integer({ min: 100, max: 5000 }), fc.integer({ min: 0, max: 6 }), fc.integer()],
    ([base, attempt, seed]) => {
      const samples = 2000
      const schedule = valid(Backoff.exponential({ base, jitter: "full" }))
      const total = Effect.runSync(
        Effect.gen(function*() {
          let sum = 0
          for (let i = 0; i < samples; i++) {
            const outputs = yield* Schedule.run(schedule, 0, Array.from({ length: attempt + 1 }))
            sum += Duration.toMillis(Chunk.unsafeLast(outputs))
          }
          return sum
        }).pipe(Effect.withRandom(Random.make(seed)))
      )
      const expected = (base * 2 ** attempt) / 2
      expect(Math.abs(total / samples - expected)).toBeLessThanOrEqual(expected * 0.05)
    },
    { fastCheck: { numRuns: 20 } }
  )

  describe("refuses bad options with a typed error naming the field", () => {
    const refused = (either: Either.Either<unknown, { field: string; message: string }>) =>
      Either.match(either, { onLeft: (error) => error, onRight: () => expect.fail("accepted") })

    it.each(
      [
        [{ base: -1 }, "base"],
        [{ base: Number.NaN }, "base"],
        [{ base: "-5 seconds" }, "base"],
        [{ base: "soon" }, "base"],
        [{ base: Infinity }, "base"],
        [{ base: 100, factor: 0.5 }, "factor"],
        [{ base: 100, factor: Number.NaN }, "factor"],
        [{ base: 100, maxDelay: 50 }, "maxDelay"],
        [{ base: 100, maxDelay: -1 }, "maxDelay"],
        [{ base: 100, jitter: "lots" }, "jitter"]
      ] as const
    )("exponential(%j) → %s", (options, field) => {
      const error = refused(Backoff.exponential(options as Backoff.ExponentialOptions))
      expect(error).toMatchObject({ _tag: "InvalidPolicy", policy: "backoff", field })
      expect(error.message).toContain(field)
    })

    it("linear refuses decorrelated jitter and constant refuses negatives", () => {
      expect(refused(Backoff.linear({ base: 1, jitter: "decorrelated" as "full" })).field).toBe("jitter")
      expect(refused(Backoff.constant(-3)).field).toBe("delay")
    })
  })
})
