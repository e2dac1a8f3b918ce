import { Errors } from "@bulwark/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Exit, Fiber, Schedule, Schema, Scope, Stream } from "effect"
import * as JobStore from "../src/JobStore.js"
import * as JobSupervisor from "../src/JobSupervisor.js"
import * as JobType from "../src/JobType.js"
import * as Workflow from "../src/Workflow.js"
import { advance, captureLogs, settle } from "./utils/supervisor.js"

const Piece = Schema.Struct({ audio: Schema.String })

/** Seed 000's composition: generate → continue → bridge → loops, with calls counted per step. */
const composition = (bridgeFailures: Array<Errors.RateLimited | Errors.Unavailable>) => {
  const calls = { generate: 0, continue: 0, bridge: 0, loops: 0 }
  const tool = (name: keyof typeof calls, failures: Array<unknown> = []) =>
    Effect.suspend(() => {
      calls[name]++
      const failure = failures[calls[name] - 1]
      return failure === undefined
        ? Effect.succeed({ audio: `${name}-${calls[name]}` })
        : Effect.fail(failure as Errors.RateLimited | Errors.Unavailable)
    })
  const type = JobType.make({
    name: "compose",
    payload: Schema.Struct({ prompt: Schema.String }),
    result: Schema.Array(Schema.String),
    jitter: "none",
    handler: () =>
      Effect.gen(function*() {
        const first = yield* Workflow.step("generate", Piece, tool("generate"))
        const second = yield* Workflow.step("continue", Piece, tool("continue"))
        const bridge = yield* Workflow.step("bridge", Piece, tool("bridge", bridgeFailures))
        const loops = yield* Workflow.step("loops", Piece, tool("loops"))
        return [first.audio, second.audio, bridge.audio, loops.audio]
      })
  })
  return { calls, type }
}

const gpuBusy = new Errors.RateLimited({ service: "orpheus", detail: "GPU busy", retryAfter: Duration.seconds(30) })

describe("Workflow.step", () => {
  it.scoped("seed 000: a GPU-busy bridge re-runs only the bridge; generate and continue run once", () => {
    const { lines, logger } = captureLogs()
    return Effect.gen(function*() {
      const { calls, type } = composition([gpuBusy])
      const supervisor = yield* JobSupervisor.make({ types: [type] })
      const id = yield* supervisor.submit(type, { prompt: "fanfare" })
      const waiting = yield* Effect.fork(supervisor.wait(type, id))
      yield* advance(31_000, 1_000)
      expect(yield* Fiber.join(waiting)).toEqual(["generate-1", "continue-1", "bridge-2", "loops-1"])
      expect(calls).toEqual({ generate: 1, continue: 1, bridge: 2, loops: 1 })
      const record = yield* supervisor.status(id)
      // The GPU-busy re-queue did not use an attempt.
      expect(record).toMatchObject({ state: "succeeded", attempts: 1, rateLimited: 1 })
      expect(record.steps).toEqual({
        generate: { audio: "generate-1" },
        continue: { audio: "continue-1" },
        bridge: { audio: "bridge-2" },
        loops: { audio: "loops-1" }
      })
      expect(lines).toContain(`Workflow step generate of job ${id} skipped: completed by an earlier attempt`)
      expect(lines).toContain(`Workflow step continue of job ${id} skipped: completed by an earlier attempt`)
      expect(lines.filter((line) => line.includes("skipped"))).toHaveLength(2)
    }).pipe(Effect.provide(JobStore.layerMemory), Effect.provide(logger))
  })

  it.scoped("a completed step is not re-run after counted failures of a later step", () =>
    Effect.gen(function*() {
      const down = new Errors.Unavailable({ service: "orpheus" })
      const { calls, type } = composition([down, down])
      const supervisor = yield* JobSupervisor.make({ types: [type] })
      const id = yield* supervisor.submit(type, { prompt: "fanfare" })
      yield* advance(5_000)
      expect(calls).toEqual({ generate: 1, continue: 1, bridge: 3, loops: 1 })
      expect(yield* supervisor.status(id)).toMatchObject({ state: "succeeded", attempts: 3 })
    }).pipe(Effect.provide(JobStore.layerMemory)))

  it.scoped("a step's Effect may retry on its own; only its final result is stored", () =>
    Effect.gen(function*() {
      let calls = 0
      const type = JobType.make({
        name: "flaky-step",
        payload: Schema.Struct({}),
        result: Schema.Number,
        handler: () =>
          Workflow.step(
            "flaky",
            Schema.NumberFromString,
            Effect.suspend(() => ++calls < 3 ? Effect.fail(new Errors.Unavailable({})) : Effect.succeed(calls)).pipe(
              Effect.retry(Schedule.spaced("100 millis"))
            )
          )
      })
      const supervisor = yield* JobSupervisor.make({ types: [type] })
      const id = yield* supervisor.submit(type, {})
      yield* advance(1_000)
      expect(calls).toBe(3)
      // One attempt: the step's own retries are not job attempts.
      expect(yield* supervisor.status(id)).toMatchObject({ state: "succeeded", attempts: 1, steps: { flaky: "3" } })
    }).pipe(Effect.provide(JobStore.layerMemory)))

  it.scoped("a duplicate step name in one run fails the job with DuplicateStep naming the step", () =>
    Effect.gen(function*() {
      let calls = 0
      const count = Effect.sync(() => ++calls)
      const type = JobType.make({
        name: "twice",
        payload: Schema.Struct({}),
        result: Schema.Number,
        handler: () =>
          Effect.zipWith(Workflow.step("fetch", Schema.Number, count), Workflow.step("fetch", Schema.Number, count), (
            a,
            b
          ) => a + b)
      })
      const supervisor = yield* JobSupervisor.make({ types: [type] })
      const id = yield* supervisor.submit(type, {})
      const error = yield* Effect.flip(supervisor.wait(type, id))
      expect(calls).toBe(1)
      expect(error).toMatchObject({ _tag: "JobFailed", attempts: 1, lastError: { tag: "DuplicateStep" } })
      expect(error.message).toContain(`workflow step "fetch" of job ${id} ran twice in one run`)
    }).pipe(Effect.provide(JobStore.layerMemory)))

  it.effect("each step runs in a span Workflow.step <name>", () =>
    Effect.gen(function*() {
      const job = fakeJob({})
      const span = yield* Workflow.step(
        "generate",
        Schema.String,
        Effect.map(Effect.currentSpan, (span) => `${span.name} ${String(span.attributes.get("workflow.step"))}`)
      ).pipe(Effect.provideService(JobType.CurrentJob, job.current))
      expect(span).toBe("Workflow.step generate generate")
    }))

  it.effect("DuplicateStep is a typed error of the step", () =>
    Effect.gen(function*() {
      const job = fakeJob({})
      const run = Effect.zipRight(
        Workflow.step("a", Schema.Number, Effect.succeed(1)),
        Workflow.step("a", Schema.Number, Effect.succeed(2))
      )
      const error = yield* Effect.flip(Effect.provideService(run, JobType.CurrentJob, job.current))
      expect(error).toBeInstanceOf(Workflow.DuplicateStep)
      expect(error).toMatchObject({ step: "a", job: "job-1" })
      expect(job.saved).toEqual([["a", 1]])
    }))

  it.effect("a stored value that no longer decodes is InvalidStoredStep naming the step; the effect does not run", () =>
    Effect.gen(function*() {
      const job = fakeJob({ generate: { audio: 42 } })
      let ran = false
      const run = Workflow.step("generate", Piece, Effect.sync(() => (ran = true, { audio: "x" })))
      const error = yield* Effect.flip(Effect.provideService(run, JobType.CurrentJob, job.current))
      expect(error).toBeInstanceOf(Workflow.InvalidStoredStep)
      expect(error).toMatchObject({ step: "generate", job: "job-1" })
      expect(error.message).toContain(`stored result of workflow step "generate" of job job-1 does not decode`)
      expect(ran).toBe(false)
    }))

  it.effect("a result that does not encode is InvalidStepResult and nothing is saved", () =>
    Effect.gen(function*() {
      const job = fakeJob({})
      const run = Workflow.step("count", Schema.Int, Effect.succeed(1.5))
      const error = yield* Effect.flip(Effect.provideService(run, JobType.CurrentJob, job.current))
      expect(error).toMatchObject({ _tag: "InvalidStepResult", step: "count" })
      expect(job.saved).toEqual([])
    }))

  it.scoped("after a deploy changes a step's Schema, the re-run job fails with InvalidStoredStep", () =>
    Effect.gen(function*() {
      const store = yield* JobStore.makeMemory
      const version = (stepSchema: Schema.Schema<any, any>, fail: boolean) =>
        JobType.make({
          name: "versioned",
          payload: Schema.Struct({}),
          result: Schema.String,
          handler: () =>
            Effect.gen(function*() {
              yield* Workflow.step("generate", stepSchema, Effect.succeed({ audio: "a" }))
              if (fail) return yield* gpuBusy
              return "done"
            })
        })
      const v1 = version(Piece, true)
      const first = yield* Scope.make()
      const supervisor = yield* JobSupervisor.make({ types: [v1] }).pipe(
        Scope.extend(first),
        Effect.provideService(JobStore.JobStore, store)
      )
      const id = yield* supervisor.submit(v1, {})
      yield* advance(1_000)
      expect(yield* store.get(id)).toMatchObject({ state: "retrying", steps: { generate: { audio: "a" } } })
      // Closes at once: the pending 30 s re-queue wakeup does not hold the shutdown.
      yield* Scope.close(first, Exit.void)
      const v2 = version(Schema.Struct({ audio: Schema.Number }), false)
      const next = yield* JobSupervisor.make({ types: [v2] }).pipe(Effect.provideService(JobStore.JobStore, store))
      yield* advance(30_000, 1_000)
      const record = yield* next.status(id)
      expect(record.state).toBe("failed")
      expect(record.errors.at(-1)).toMatchObject({ tag: "InvalidStoredStep" })
      expect(record.errors.at(-1)!.message).toContain(`workflow step "generate" of job ${id} does not decode`)
    }))
})

describe("Workflow.sleep", () => {
  const napper = () => {
    const after: Array<number> = []
    const type = JobType.make({
      name: "napper",
      payload: Schema.Struct({}),
      result: Schema.Number,
      handler: () =>
        Effect.gen(function*() {
          yield* Workflow.sleep("nap", "60 seconds")
          const now = yield* Clock.currentTimeMillis
          after.push(now)
          return now
        })
    })
    return { after, type }
  }

  it.scoped("a restarted job sleeps only for what is left of a durable sleep (one under the threshold)", () => {
    const { lines, logger } = captureLogs()
    return Effect.gen(function*() {
      const store = yield* JobStore.makeMemory
      const { after, type } = napper()
      const first = yield* Scope.make()
      // Sleeps under the threshold run in the attempt's fiber, which is what shutdown interrupts here.
      const sleepThreshold = "1 hour"
      const supervisor = yield* JobSupervisor.make({ types: [type], shutdownGrace: "1 second", sleepThreshold }).pipe(
        Scope.extend(first),
        Effect.provideService(JobStore.JobStore, store)
      )
      const id = yield* supervisor.submit(type, {})
      yield* advance(20_000, 1_000)
      expect((yield* supervisor.status(id)).steps).toEqual({ nap: { wakeAt: 60_000 } })
      // Shut down mid-sleep: the job is interrupted at 21 s and released.
      const closing = yield* Effect.fork(Scope.close(first, Exit.void))
      yield* advance(1_000)
      yield* Fiber.join(closing)
      expect(yield* store.get(id)).toMatchObject({ state: "queued", attempts: 0 })
      const next = yield* JobSupervisor.make({ types: [type], sleepThreshold }).pipe(
        Effect.provideService(JobStore.JobStore, store)
      )
      const waiting = yield* Effect.fork(next.wait(type, id))
      yield* advance(60_000, 1_000)
      // 60 s in all, not 21 s + 60 s.
      expect(yield* Fiber.join(waiting)).toBe(60_000)
      expect(after).toEqual([60_000])
      expect(lines).toContain(`Workflow sleep nap of job ${id} resumed: 39s left`)
    }).pipe(Effect.provide(logger))
  })

  it.scoped("a long sleep frees its slot: with concurrency 1, another job runs and completes meanwhile", () =>
    Effect.gen(function*() {
      const Nap = JobType.make({
        name: "nap",
        payload: Schema.Struct({ millis: Schema.Number }),
        result: Schema.Number,
        concurrency: 1,
        handler: ({ millis }) =>
          Effect.gen(function*() {
            if (millis > 0) yield* Workflow.sleep("nap", Duration.millis(millis))
            return yield* Clock.currentTimeMillis
          })
      })
      // Few timers per simulated minute keep ten simulated minutes fast: the wake-up is timed by itself.
      const supervisor = yield* JobSupervisor.make({ types: [Nap], pollInterval: "1 minute", metricsInterval: false })
      const events = yield* supervisor.subscribe
      const sleeper = yield* supervisor.submit(Nap, { millis: 600_000 })
      yield* advance(1_000)
      // Set aside until it wakes: not running, its attempt given back.
      expect(yield* supervisor.running).toEqual([])
      expect(yield* supervisor.status(sleeper)).toMatchObject({
        state: "scheduled",
        runAt: 600_000,
        attempts: 0,
        steps: { nap: { wakeAt: 600_000 } }
      })
      const quick = yield* supervisor.submit(Nap, { millis: 0 })
      const waiting = yield* Effect.fork(supervisor.wait(Nap, quick))
      yield* advance(1_000)
      expect(yield* Fiber.join(waiting)).toBe(1_000)
      // A sleep under the threshold (1 second) holds the slot, as a short pause should.
      const short = yield* supervisor.submit(Nap, { millis: 500 })
      yield* settle
      expect(yield* supervisor.running).toEqual([short])
      yield* advance(1_000)
      expect(yield* supervisor.status(short)).toMatchObject({ state: "succeeded", attempts: 1, result: 2_500 })
      const woken = yield* Effect.fork(supervisor.wait(Nap, sleeper))
      yield* advance(600_000, 60_000)
      // It ran again when it woke, resumed after the sleep, and used one attempt in all.
      expect(yield* Fiber.join(woken)).toBe(600_000)
      expect(yield* supervisor.status(sleeper)).toMatchObject({ state: "succeeded", attempts: 1 })
      const seen = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.take(events, 4)))
      expect(seen.map((event) => [event._tag, event.id])).toEqual([
        ["Submitted", sleeper],
        ["Started", sleeper],
        ["Released", sleeper],
        ["Submitted", quick]
      ])
    }).pipe(Effect.provide(JobStore.layerMemory)))

  it.scoped("a sleep that has passed is not slept again when a later step fails", () =>
    Effect.gen(function*() {
      const calls: Array<number> = []
      const type = JobType.make({
        name: "nap-then-call",
        payload: Schema.Struct({}),
        result: Schema.Number,
        jitter: "none",
        handler: () =>
          Effect.gen(function*() {
            yield* Workflow.sleep("nap", "10 seconds")
            const now = yield* Clock.currentTimeMillis
            calls.push(now)
            if (calls.length === 1) return yield* new Errors.Unavailable({})
            return now
          })
      })
      const supervisor = yield* JobSupervisor.make({ types: [type] })
      const id = yield* supervisor.submit(type, {})
      yield* advance(12_000)
      // Woke at 10 s, failed, re-queued after 1 s: ran again at 11 s without sleeping.
      expect(calls).toEqual([10_000, 11_000])
      expect(yield* supervisor.status(id)).toMatchObject({ state: "succeeded", attempts: 2 })
    }).pipe(Effect.provide(JobStore.layerMemory)))

  it.effect("sleep names share the step namespace; a bad duration is InvalidPolicy", () =>
    Effect.gen(function*() {
      const job = fakeJob({})
      const twice = Effect.zipRight(Workflow.sleep("wait", 0), Workflow.step("wait", Schema.Number, Effect.succeed(1)))
      const duplicate = yield* Effect.flip(Effect.provideService(twice, JobType.CurrentJob, job.current))
      expect(duplicate).toMatchObject({ _tag: "DuplicateStep", step: "wait" })
      const bad = yield* Effect.flip(
        Effect.provideService(Workflow.sleep("forever", Duration.infinity), JobType.CurrentJob, fakeJob({}).current)
      )
      expect(bad).toMatchObject({ _tag: "InvalidPolicy", field: "forever" })
      const stale = yield* Effect.flip(
        Effect.provideService(Workflow.sleep("nap", "1 second"), JobType.CurrentJob, fakeJob({ nap: "soon" }).current)
      )
      expect(stale).toMatchObject({ _tag: "InvalidStoredStep", step: "nap" })
      yield* settle
    }))
})

/** A `CurrentJob` outside a supervisor, recording saved steps. */
const fakeJob = (steps: Record<string, unknown>) => {
  const saved: Array<[string, unknown]> = []
  const current: JobType.Current = {
    id: "job-1" as JobType.Current["id"],
    type: "fake",
    attempt: 1,
    maxAttempts: 1,
    reportProgress: () => Effect.void,
    steps,
    saveStep: (name, value) => Effect.sync(() => void saved.push([name, value]))
  }
  return { current, saved }
}
