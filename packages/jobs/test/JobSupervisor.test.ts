import { CircuitBreaker, Errors, Retry } from "@bulwark/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Deferred, Duration, Effect, Exit, Fiber, Ref, Schema, Scope, Stream } from "effect"
import type { JobId } from "../src/Job.js"
import * as JobStore from "../src/JobStore.js"
import * as JobSupervisor from "../src/JobSupervisor.js"
import * as JobType from "../src/JobType.js"
import { advance, captureLogs, settle } from "./utils/supervisor.js"

const Double = JobType.make({
  name: "double",
  payload: Schema.Struct({ n: Schema.Number }),
  // The result is stored encoded (a string) and decoded by wait.
  result: Schema.NumberFromString,
  handler: ({ n }) => Effect.succeed(n * 2)
})

/** A job type whose handler follows a script of failures, one per call. */
const scripted = (
  script: Array<Errors.Unavailable | Errors.RateLimited | Errors.Rejected>,
  options: Partial<JobType.Options<"scripted", any, any, any, any, any, any, any>> = {}
) => {
  const calls: Array<number> = []
  const type = JobType.make({
    name: "scripted",
    payload: Schema.Struct({}),
    result: Schema.String,
    error: Schema.Union(Errors.Unavailable, Errors.RateLimited, Errors.Rejected),
    jitter: "none",
    handler: () =>
      Effect.gen(function*() {
        calls.push(yield* Clock.currentTimeMillis)
        const failure = script[calls.length - 1]
        if (failure !== undefined) return yield* failure
        return "done"
      }),
    ...options
  })
  return { calls, type }
}

const withStore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, JobStore.layerMemory)

describe("JobSupervisor", () => {
  it.scoped("submit returns an id at once; wait returns the decoded result", () =>
    withStore(Effect.gen(function*() {
      const supervisor = yield* JobSupervisor.make({ types: [Double] })
      const id = yield* supervisor.submit(Double, { n: 21 })
      expect(id).toMatch(/^[0-9a-f]{32}$/)
      expect(yield* supervisor.wait(Double, id)).toBe(42)
      const record = yield* supervisor.status(id)
      expect(record).toMatchObject({ state: "succeeded", attempts: 1, result: "42" })
    })))

  it.scoped("a bad payload is a typed error and nothing is stored", () =>
    withStore(Effect.gen(function*() {
      const supervisor = yield* JobSupervisor.make({ types: [Double] })
      const error = yield* Effect.flip(supervisor.submit(Double, { n: "x" } as any))
      expect(error._tag).toBe("InvalidPayload")
      expect(error.message).toContain("double")
      const encoded = yield* Effect.flip(supervisor.submitEncoded(Double, { m: 1 }))
      expect(encoded._tag).toBe("InvalidPayload")
      expect((yield* supervisor.list()).jobs).toEqual([])
      const badOption = yield* Effect.flip(supervisor.submit(Double, { n: 1 }, { maxAttempts: 0 }))
      expect(badOption).toMatchObject({ _tag: "InvalidPolicy", field: "maxAttempts" })
    })))

  it.scoped("an invalid job type fails the supervisor with InvalidPolicy naming the option", () =>
    withStore(Effect.gen(function*() {
      const bad = JobType.make({ ...Double, name: "bad", maxAttempts: 0 })
      const error = yield* Effect.flip(JobSupervisor.make({ types: [bad] }))
      expect(error).toMatchObject({ _tag: "InvalidPolicy", field: "maxAttempts" })
    })))

  it.scoped("retryable failures re-queue after 1 s, 2 s (seed 001), logged, and succeed", () => {
    const { lines, logger } = captureLogs()
    return withStore(Effect.gen(function*() {
      const unavailable = new Errors.Unavailable({ service: "orpheus" })
      const { calls, type } = scripted([unavailable, unavailable])
      const supervisor = yield* JobSupervisor.make({ types: [type] })
      const id = yield* supervisor.submit(type, {})
      const waiting = yield* Effect.fork(supervisor.wait(type, id))
      yield* advance(5_000)
      expect(yield* Fiber.join(waiting)).toBe("done")
      expect(calls).toEqual([0, 1_000, 3_000])
      const record = yield* supervisor.status(id)
      expect(record.attempts).toBe(3)
      expect(record.errors.map((error) => [error.tag, error.attempt])).toEqual([["Unavailable", 1], [
        "Unavailable",
        2
      ]])
      expect(lines).toContain(`Re-queuing job ${id} (attempt 1/5) after 1s`)
      expect(lines).toContain(`Re-queuing job ${id} (attempt 2/5) after 2s`)
    })).pipe(Effect.provide(logger))
  })

  it.scoped("a client retry that gave up on a transient failure re-queues the job; on a refusal it fails it", () =>
    withStore(Effect.gen(function*() {
      // seed 001's layers: the request-level retry ran out, the job level tries again later
      const gaveUp = (lastError: unknown) =>
        new Retry.RetriesExhausted({
          policy: "llm",
          reason: "max-attempts",
          attempts: 5,
          elapsed: Duration.seconds(31),
          lastError,
          retryAfter: undefined
        })
      const runs = { transient: 0, refused: 0 }
      const make = (name: "transient" | "refused", lastError: unknown) =>
        JobType.make({
          name,
          payload: Schema.Struct({}),
          result: Schema.String,
          jitter: "none",
          handler: () => runs[name]++ === 0 ? Effect.fail(gaveUp(lastError)) : Effect.succeed("done")
        })
      const transient = make("transient", new Errors.Unavailable({ service: "llm" }))
      const refused = make("refused", new Errors.Rejected({ service: "llm", status: 404 }))
      const supervisor = yield* JobSupervisor.make({ types: [transient, refused] })
      const a = yield* supervisor.submit(transient, {})
      const b = yield* supervisor.submit(refused, {})
      yield* advance(5_000)
      expect(yield* supervisor.status(a)).toMatchObject({ state: "succeeded", attempts: 2 })
      expect(yield* supervisor.status(b)).toMatchObject({ state: "failed", attempts: 1 })
      expect(runs).toEqual({ transient: 2, refused: 1 })
    })))

  it.scoped("attempts are bounded by maxAttempts; wait returns the last typed error", () =>
    withStore(Effect.gen(function*() {
      const unavailable = new Errors.Unavailable({ detail: "down" })
      const { calls, type } = scripted(Array(10).fill(unavailable), { maxAttempts: 3 })
      const supervisor = yield* JobSupervisor.make({ types: [type] })
      const id = yield* supervisor.submit(type, {})
      const waiting = yield* Effect.fork(Effect.flip(supervisor.wait(type, id)))
      yield* advance(10_000)
      const error = yield* Fiber.join(waiting)
      expect(error).toBeInstanceOf(Errors.Unavailable)
      expect(calls).toEqual([0, 1_000, 3_000])
      expect(yield* supervisor.status(id)).toMatchObject({ state: "failed", attempts: 3 })
    })))

  it.scoped("a Retry-After failure re-queues after the hint without using an attempt, bounded", () =>
    withStore(Effect.gen(function*() {
      const busy = new Errors.RateLimited({ service: "orpheus", retryAfter: Duration.seconds(30) })
      const { calls, type } = scripted([busy, busy, busy], { maxRateLimited: 2 })
      const supervisor = yield* JobSupervisor.make({ types: [type] })
      const id = yield* supervisor.submit(type, {})
      yield* advance(100_000, 1_000)
      // Two free re-queues after 30 s; the third counts (the bound is reached) and waits max(hint, backoff).
      expect(calls).toEqual([0, 30_000, 60_000, 90_000])
      expect(yield* supervisor.status(id)).toMatchObject({ state: "succeeded", attempts: 2, rateLimited: 2 })
    })))

  it.scoped("a non-retryable failure ends the job at once", () =>
    withStore(Effect.gen(function*() {
      const { calls, type } = scripted([new Errors.Rejected({ status: 400 })])
      const supervisor = yield* JobSupervisor.make({ types: [type] })
      const id = yield* supervisor.submit(type, {})
      const error = yield* Effect.flip(supervisor.wait(type, id))
      expect(error).toBeInstanceOf(Errors.Rejected)
      expect(calls).toEqual([0])
      const record = yield* supervisor.status(id)
      expect(record).toMatchObject({ state: "failed", attempts: 1 })
      expect(record.errors[0]).toMatchObject({ tag: "Rejected", encoded: { _tag: "Rejected", status: 400 } })
    })))

  it.scoped("without an error Schema, wait fails with JobFailed; a defect fails at once", () =>
    withStore(Effect.gen(function*() {
      const Crash = JobType.make({
        name: "crash",
        payload: Schema.Struct({}),
        result: Schema.String,
        handler: () => Effect.die(new Error("boom"))
      })
      const supervisor = yield* JobSupervisor.make({ types: [Crash] })
      const id = yield* supervisor.submit(Crash, {})
      const error = yield* Effect.flip(supervisor.wait(Crash, id))
      expect(error).toMatchObject({ _tag: "JobFailed", attempts: 1, lastError: { tag: "Defect" } })
    })))

  it.scoped("retry runs a failed job again, attempts reset and errors kept; other states are JobNotRetryable", () =>
    withStore(Effect.gen(function*() {
      const { calls, type } = scripted([new Errors.Rejected({ status: 400 })])
      const supervisor = yield* JobSupervisor.make({ types: [type] })
      const id = yield* supervisor.submit(type, {})
      expect(yield* Effect.flip(supervisor.wait(type, id))).toBeInstanceOf(Errors.Rejected)
      const events = yield* supervisor.subscribe
      const retried = yield* supervisor.retry(id)
      expect(retried).toMatchObject({ state: "queued", attempts: 0, errors: [{ tag: "Rejected", attempt: 1 }] })
      expect(yield* supervisor.wait(type, id)).toBe("done")
      expect(calls).toHaveLength(2)
      expect(yield* supervisor.status(id)).toMatchObject({
        state: "succeeded",
        attempts: 1,
        errors: [{ tag: "Rejected" }]
      })
      const seen = yield* events.pipe(Stream.take(3), Stream.runCollect)
      expect(Chunk.toReadonlyArray(seen).map((event) => event._tag)).toEqual(["Submitted", "Started", "Succeeded"])
      const refused = yield* Effect.flip(supervisor.retry(id))
      expect(refused).toMatchObject({ _tag: "JobNotRetryable", id, state: "succeeded" })
      expect(refused.message).toBe(`job ${id} has succeeded: only a failed or cancelled job can be retried`)
      expect(yield* Effect.flip(supervisor.retry("missing" as JobId))).toMatchObject({ _tag: "JobNotFound" })
    })))

  it.scoped("wait times out with WaitTimedOut naming the state", () =>
    withStore(Effect.gen(function*() {
      const supervisor = yield* JobSupervisor.make({ types: [] })
      const id = yield* supervisor.submit(Double, { n: 1 })
      const waiting = yield* Effect.fork(Effect.flip(supervisor.wait(Double, id, { timeout: "5 seconds" })))
      yield* advance(5_000)
      expect(yield* Fiber.join(waiting)).toMatchObject({ _tag: "WaitTimedOut", state: "queued" })
    })))

  it.scoped("cancel: a queued job never starts, a running job's fiber is interrupted", () =>
    withStore(Effect.gen(function*() {
      const started = yield* Ref.make(0)
      const interrupted = yield* Deferred.make<void>()
      const Slow = JobType.make({
        name: "slow",
        payload: Schema.Struct({}),
        result: Schema.String,
        handler: () =>
          Ref.update(started, (n) => n + 1).pipe(
            Effect.zipRight(Effect.never),
            Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
          )
      })
      const supervisor = yield* JobSupervisor.make({ types: [Slow] })
      const later = yield* supervisor.submit(Slow, {}, { delay: "1 minute" })
      expect((yield* supervisor.cancel(later)).state).toBe("cancelled")
      const now = yield* supervisor.submit(Slow, {})
      yield* settle
      expect(yield* supervisor.running).toEqual([now])
      const waiting = yield* Effect.fork(Effect.flip(supervisor.wait(Slow, now)))
      yield* settle
      yield* supervisor.cancel(now)
      yield* Deferred.await(interrupted)
      expect(yield* Fiber.join(waiting)).toMatchObject({ _tag: "JobCancelled", id: now })
      yield* advance(120_000, 10_000)
      expect(yield* Ref.get(started)).toBe(1)
      expect(yield* supervisor.running).toEqual([])
      expect((yield* supervisor.status(later)).state).toBe("cancelled")
    })))

  it.scoped("dedupe: mode existing returns the same id, mode reject fails with DuplicateJob", () =>
    withStore(Effect.gen(function*() {
      const supervisor = yield* JobSupervisor.make({ types: [] })
      const dedupe = { key: "client-job-1", mode: "existing" } as const
      const first = yield* supervisor.submit(Double, { n: 1 }, { dedupe })
      expect(yield* supervisor.submit(Double, { n: 2 }, { dedupe })).toBe(first)
      const error = yield* Effect.flip(
        supervisor.submit(Double, { n: 3 }, { dedupe: { key: "client-job-1", mode: "reject" } })
      )
      expect(error).toMatchObject({ _tag: "DuplicateJob", dedupeKey: "client-job-1" })
      expect((yield* supervisor.list()).jobs).toHaveLength(1)
    })))

  it.scoped("progress reported by a handler reaches watchers and the job's status", () =>
    withStore(Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const Render = JobType.make({
        name: "render",
        payload: Schema.Struct({}),
        result: Schema.String,
        handler: () =>
          JobType.reportProgress({ percent: 50 }).pipe(
            Effect.zipRight(Deferred.await(gate)),
            Effect.as("rendered")
          )
      })
      const supervisor = yield* JobSupervisor.make({ types: [Render] })
      const events = yield* supervisor.subscribe
      const id = yield* supervisor.submit(Render, {})
      const progress = yield* events.pipe(
        Stream.filter((event) => event._tag === "Progress"),
        Stream.runHead
      )
      expect(progress).toMatchObject({ value: { id, progress: { percent: 50 } } })
      expect((yield* supervisor.status(id)).progress).toEqual({ percent: 50 })
      yield* Deferred.succeed(gate, undefined)
      expect(yield* supervisor.wait(Render, id)).toBe("rendered")
    })))

  it.scoped("poll returns the changes since a cursor", () =>
    withStore(Effect.gen(function*() {
      const supervisor = yield* JobSupervisor.make({ types: [] })
      const a = yield* supervisor.submit(Double, { n: 1 })
      const b = yield* supervisor.submit(Double, { n: 2 })
      const first = yield* supervisor.poll(0)
      expect(first.jobs.map((job) => job.id)).toEqual([a, b])
      const c = yield* supervisor.submit(Double, { n: 3 })
      yield* supervisor.cancel(a)
      const second = yield* supervisor.poll(first.cursor)
      expect(second.jobs.map((job) => [job.id, job.state])).toEqual([[c, "queued"], [a, "cancelled"]])
      expect((yield* supervisor.poll(second.cursor)).jobs).toEqual([])
    })))

  it.effect("graceful shutdown: finishing jobs complete, the rest are released and run by the next supervisor", () =>
    Effect.gen(function*() {
      const store = yield* JobStore.makeMemory
      const runs: Array<string> = []
      const Work = JobType.make({
        name: "work",
        payload: Schema.Struct({ millis: Schema.Number }),
        result: Schema.Number,
        handler: ({ millis }) =>
          Effect.sync(() => runs.push(`start ${millis}`)).pipe(
            Effect.zipRight(Effect.sleep(millis)),
            Effect.as(millis)
          )
      })
      const scope = yield* Scope.make()
      const first = yield* JobSupervisor.make({ types: [Work], shutdownGrace: "1 second" }).pipe(
        Scope.extend(scope),
        Effect.provideService(JobStore.JobStore, store)
      )
      const quick = yield* first.submit(Work, { millis: 500 })
      const slow = yield* first.submit(Work, { millis: 3_600_000 })
      yield* settle
      expect(yield* first.running).toHaveLength(2)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* advance(1_000)
      yield* Fiber.join(closing)
      expect(yield* store.get(quick)).toMatchObject({ state: "succeeded", attempts: 1 })
      expect(yield* store.get(slow)).toMatchObject({ state: "queued", attempts: 0 })
      expect((yield* store.get(slow)).lease).toBeUndefined()

      const second = yield* JobSupervisor.make({ types: [Work] }).pipe(
        Effect.provideService(JobStore.JobStore, store)
      )
      yield* settle
      expect(yield* second.running).toEqual([slow])
      expect(runs).toEqual(["start 500", "start 3600000", "start 3600000"])
      yield* second.cancel(slow)
    }).pipe(Effect.scoped))

  it.scoped("an open circuit breaker pauses claiming its queue until its retryAfter", () =>
    withStore(Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        service: "gpu",
        trip: CircuitBreaker.consecutiveFailures(1),
        openDuration: "10 seconds"
      })
      yield* Effect.ignore(breaker.protect(Effect.fail(new Errors.Unavailable({}))))
      const starts: Array<number> = []
      const Gpu = JobType.make({
        name: "gpu",
        payload: Schema.Struct({}),
        result: Schema.String,
        breaker,
        handler: () =>
          Effect.as(Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => starts.push(now))), "ok")
      })
      const supervisor = yield* JobSupervisor.make({ types: [Gpu] })
      const id = yield* supervisor.submit(Gpu, {})
      yield* advance(9_900)
      expect(starts).toEqual([])
      expect((yield* supervisor.status(id)).state).toBe("queued")
      yield* advance(200)
      expect(starts).toEqual([10_000])
      expect((yield* supervisor.status(id)).state).toBe("succeeded")
    })))

  it.scoped("retention prunes finished jobs older than maxAge", () =>
    withStore(Effect.gen(function*() {
      const supervisor = yield* JobSupervisor.make({
        types: [Double],
        retention: { maxAge: "1 hour", interval: "1 minute" },
        // Few wakeups per simulated hour keep the test fast.
        pollInterval: "1 minute",
        metricsInterval: false
      })
      const done = yield* supervisor.submit(Double, { n: 1 })
      yield* supervisor.wait(Double, done)
      const pending = yield* supervisor.submit(Double, { n: 2 }, { delay: "2 hours" })
      yield* advance(59 * 60_000, 10 * 60_000)
      expect((yield* supervisor.status(done)).state).toBe("succeeded")
      yield* advance(2 * 60_000, 60_000)
      expect((yield* Effect.flip(supervisor.status(done)))._tag).toBe("JobNotFound")
      expect((yield* supervisor.status(pending)).state).toBe("scheduled")
    })))

  it.scoped("events: one per transition, in order", () =>
    withStore(Effect.gen(function*() {
      const unavailable = new Errors.Unavailable({})
      const { type } = scripted([unavailable])
      const supervisor = yield* JobSupervisor.make({ types: [type] })
      const events = yield* supervisor.subscribe
      const collected = yield* Effect.fork(Stream.runCollect(Stream.take(events, 5)))
      const id: JobId = yield* supervisor.submit(type, {})
      yield* advance(2_000)
      const tags = Chunk.toReadonlyArray(yield* Fiber.join(collected)).map((event) => event._tag)
      expect(tags).toEqual(["Submitted", "Started", "Requeued", "Started", "Succeeded"])
      expect((yield* supervisor.status(id)).state).toBe("succeeded")
    })))
})
