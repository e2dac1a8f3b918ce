import { Errors } from "@bulwark/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc, Fiber, Random, Schema, Stream } from "effect"
import type { JobId } from "../src/Job.js"
import { finalStates } from "../src/Job.js"
import * as JobStore from "../src/JobStore.js"
import * as JobSupervisor from "../src/JobSupervisor.js"
import * as JobType from "../src/JobType.js"
import { advance } from "./utils/supervisor.js"

type Step = "ok" | "retryable" | "rate-limited" | "fatal"

const maxAttempts = 3
const maxRateLimited = 2

interface Model {
  readonly state: "succeeded" | "failed"
  readonly attempts: number
  readonly rateLimited: number
}

/** What the store should end with, had the job not been cancelled. */
const model = (script: ReadonlyArray<Step>): Model => {
  let attempts = 0
  let rateLimited = 0
  for (let call = 0;; call++) {
    attempts++
    const step = script[call] ?? "ok"
    if (step === "ok") return { state: "succeeded", attempts, rateLimited }
    if (step === "fatal") return { state: "failed", attempts, rateLimited }
    if (step === "rate-limited" && rateLimited < maxRateLimited) {
      attempts--
      rateLimited++
      continue
    }
    if (attempts >= maxAttempts) return { state: "failed", attempts, rateLimited }
  }
}

const arbitraryJob = fc.record({
  script: fc.array(fc.constantFrom<Step>("ok", "retryable", "rate-limited", "fatal"), { maxLength: 8 }),
  /** Milliseconds after the start at which to cancel, if at all. */
  cancelAt: fc.option(fc.integer({ min: 0, max: 40_000 }), { nil: undefined }),
  /** How long each call runs. */
  millis: fc.integer({ min: 0, max: 3_000 })
})

describe("JobSupervisor (property)", () => {
  it.effect.prop(
    "every job ends in exactly one terminal state within its bounds; rate-limited re-queues never count",
    [fc.array(arbitraryJob, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 3 }), fc.integer()],
    ([jobs, concurrency, seed]) =>
      Effect.gen(function*() {
        const calls = new Map<number, number>()
        const Scripted = JobType.make({
          name: "scripted",
          payload: Schema.Struct({ index: Schema.Number }),
          result: Schema.Number,
          maxAttempts,
          maxRateLimited,
          concurrency,
          base: "1 second",
          maxDelay: "4 seconds",
          jitter: "full",
          handler: ({ index }) =>
            Effect.gen(function*() {
              const call = calls.get(index) ?? 0
              calls.set(index, call + 1)
              const job = jobs[index]!
              yield* Effect.sleep(job.millis)
              switch (job.script[call] ?? "ok") {
                case "ok":
                  return index
                case "retryable":
                  return yield* new Errors.Unavailable({})
                case "rate-limited":
                  return yield* new Errors.RateLimited({ retryAfter: Duration.seconds(5) })
                case "fatal":
                  return yield* new Errors.Rejected({})
              }
            })
        })
        const supervisor = yield* JobSupervisor.make({ types: [Scripted], metricsInterval: false })
        const events = yield* supervisor.subscribe
        const terminal = yield* Effect.fork(
          events.pipe(
            Stream.filter((event) =>
              event._tag === "Succeeded" || event._tag === "Failed" || event._tag === "Cancelled"
            ),
            Stream.take(jobs.length),
            Stream.runCollect
          )
        )
        const ids: Array<JobId> = []
        for (let index = 0; index < jobs.length; index++) ids.push(yield* supervisor.submit(Scripted, { index }))
        for (const [index, job] of jobs.entries()) {
          if (job.cancelAt !== undefined) {
            yield* Effect.fork(Effect.zipRight(Effect.sleep(job.cancelAt), supervisor.cancel(ids[index]!)))
          }
        }
        // Bound: 8 jobs × (3 counted + 2 free) calls × (3 s + 5 s) one at a time, plus the cancels.
        for (let second = 0; second < 400; second++) {
          const states = yield* Effect.forEach(ids, (id) => Effect.map(supervisor.status(id), (job) => job.state))
          if (states.every((state) => finalStates.has(state))) break
          yield* advance(1_000, 1_000)
        }
        // Cancels scheduled after every job ended find them final: let them run, to check they change nothing.
        yield* advance(40_000, 10_000)

        const outcomes = [...(yield* Fiber.join(terminal))]
        const ended = new Map<string, number>()
        for (const event of outcomes) ended.set(event.id, (ended.get(event.id) ?? 0) + 1)
        for (const [index, job] of jobs.entries()) {
          const id = ids[index]!
          const record = yield* supervisor.status(id)
          const expected = model(job.script)
          const made = calls.get(index) ?? 0
          // Exactly one terminal state, seen once; nothing lost.
          expect(finalStates.has(record.state), `job ${index} is ${record.state}`).toBe(true)
          expect(ended.get(id)).toBe(1)
          expect(record.lease).toBeUndefined()
          expect(record.attempts).toBeLessThanOrEqual(maxAttempts)
          expect(record.rateLimited).toBeLessThanOrEqual(maxRateLimited)
          // Every call either counted as an attempt or was a free rate-limited re-queue.
          if (record.state === "cancelled") {
            expect(job.cancelAt).toBeDefined()
            expect(made).toBeLessThanOrEqual(record.attempts + record.rateLimited)
            expect(record.attempts).toBeLessThanOrEqual(expected.attempts)
            expect(record.rateLimited).toBeLessThanOrEqual(expected.rateLimited)
          } else {
            expect({ state: record.state, attempts: record.attempts, rateLimited: record.rateLimited }).toEqual(
              expected
            )
            expect(made).toBe(record.attempts + record.rateLimited)
            expect(record.errors.filter((error) => error.tag === "RateLimited").length).toBeGreaterThanOrEqual(
              record.rateLimited
            )
          }
        }
        expect(yield* supervisor.running).toEqual([])
      }).pipe(Effect.withRandom(Random.make(seed)), Effect.provide(JobStore.layerMemory), Effect.scoped),
    { fastCheck: { numRuns: 25 }, timeout: 120_000 }
  )
})
