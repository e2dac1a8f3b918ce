import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as Errors from "@bulwark/core/Errors"
import * as JobErrors from "@bulwark/jobs/JobErrors"
import * as JobStore from "@bulwark/jobs/JobStore"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as JobType from "@bulwark/jobs/JobType"
import { HttpRouter } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, FastCheck, Layer, Logger, Schema, TestClock } from "effect"
import * as Heartbeat from "../src/Heartbeat.js"
import { roundUpTenths } from "../src/internal/heartbeatStatus.js"
import { serve } from "./utils/heartbeatServer.js"
import { recordSpans } from "./utils/heartbeatTracer.js"

const registry = CircuitBreakers.layer({
  defaults: { trip: CircuitBreaker.consecutiveFailures(3), openDuration: "60 seconds" }
})

const down = (service: string) => Effect.fail(new Errors.Unavailable({ service, status: 503 }))

/** `n` calls to `service` that fail as an outage does. */
const fail = (service: string, n: number) =>
  Effect.flatMap(
    CircuitBreakers.CircuitBreakers,
    (breakers) => Effect.replicateEffect(Effect.either(breakers.protect(service)(down(service))), n)
  )

const succeed = (service: string) =>
  Effect.flatMap(CircuitBreakers.CircuitBreakers, (breakers) => breakers.protect(service)(Effect.void))

const capture = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ annotations, message }) => {
    const text = Array.isArray(message) ? message.join(" ") : String(message)
    const sorted = Object.fromEntries([...annotations].sort(([a], [b]) => a.localeCompare(b)))
    lines.push(`${text} ${JSON.stringify(sorted)}`)
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** Echoes its text; "no" is refused (not retryable), so the job fails on its first attempt. */
const Echo = JobType.make({
  name: "echo",
  payload: Schema.Struct({ text: Schema.String }),
  result: Schema.String,
  error: Errors.Rejected,
  handler: ({ text }) => text === "no" ? Effect.fail(new Errors.Rejected({ service: "echo" })) : Effect.succeed(text)
})

const supervisor = (store: Layer.Layer<JobStore.JobStore>) =>
  JobSupervisor.layer({ types: [Echo], metricsInterval: false }).pipe(Layer.provide(store))

/** A memory store whose `counts` fails, as a store on a full disk would. */
const brokenStore = Layer.effect(
  JobStore.JobStore,
  Effect.map(JobStore.makeMemory, (store) => ({
    ...store,
    counts: Effect.fail(new JobErrors.StoreFailure({ operation: "counts", reason: "disk full" }))
  }))
)

describe("Heartbeat.status", () => {
  it.effect("reports seed 003's status dict, seconds_until_retry counting down on the Clock", () =>
    Effect.gen(function*() {
      yield* succeed("agent_http")
      yield* fail("claude_api", 3)
      const opened = yield* Heartbeat.status
      expect(opened.status).toBe("degraded")
      expect(Object.keys(opened.breakers)).toEqual(["agent_http", "claude_api"])
      expect(yield* Schema.encode(Heartbeat.HeartbeatStatus)(opened)).toEqual({
        status: "degraded",
        checked_at: "1970-01-01T00:00:00.000Z",
        breakers: {
          agent_http: {
            service: "agent_http",
            state: "CLOSED",
            degraded: false,
            consecutive_failures: 0,
            seconds_until_retry: null,
            failure_count: 0,
            openings: 0,
            probes_in_flight: 0,
            probe_successes: 0,
            isolations: 0,
            last_failure_time: null,
            last_success_time: "1970-01-01T00:00:00.000Z"
          },
          claude_api: {
            service: "claude_api",
            state: "OPEN",
            degraded: true,
            consecutive_failures: 3,
            seconds_until_retry: 60,
            failure_count: 3,
            openings: 1,
            probes_in_flight: 0,
            probe_successes: 0,
            isolations: 0,
            last_failure_time: "1970-01-01T00:00:00.000Z",
            last_success_time: null
          }
        },
        jobs: null
      })

      yield* TestClock.adjust("20050 millis")
      // 39.95 s left: rounded up, never showing less time than the breaker will wait
      expect((yield* Heartbeat.status).breakers.claude_api!.secondsUntilRetry).toBe(40)
      yield* TestClock.adjust("39950 millis")
      const over = (yield* Heartbeat.status).breakers.claude_api!
      expect([over.state, over.secondsUntilRetry, over.degraded]).toEqual(["OPEN", 0, true])

      yield* succeed("claude_api") // the probe: HALF_OPEN until the second success
      const probing = (yield* Heartbeat.status).breakers.claude_api!
      expect([probing.state, probing.secondsUntilRetry, probing.degraded, probing.probeSuccesses]).toEqual([
        "HALF_OPEN",
        null,
        true,
        1
      ])
      yield* succeed("claude_api")
      const healed = yield* Heartbeat.status
      expect(healed.status).toBe("ok")
      expect(healed.breakers.claude_api).toMatchObject({ state: "CLOSED", degraded: false, consecutiveFailures: 0 })
    }).pipe(Effect.provide(registry)))

  it.effect("an isolated breaker is degraded with no retry time", () =>
    Effect.gen(function*() {
      const breakers = yield* CircuitBreakers.CircuitBreakers
      const breaker = yield* breakers.get("ollama")
      yield* breaker.isolate
      const status = yield* Heartbeat.status
      expect(status.status).toBe("degraded")
      expect(status.breakers.ollama).toMatchObject({ state: "ISOLATED", secondsUntilRetry: null, isolations: 1 })
    }).pipe(Effect.provide(registry)))

  it.effect("with no breaker yet, the heartbeat is ok and empty", () =>
    Effect.gen(function*() {
      const status = yield* Heartbeat.status
      expect([status.status, status.breakers, status.jobs]).toEqual(["ok", {}, null])
    }).pipe(Effect.provide(registry)))

  it.effect("keys breakers in order of creation, but integer-like names first, in numeric order", () =>
    Effect.gen(function*() {
      for (const service of ["orpheus", "10", "ollama", "2"]) yield* succeed(service)
      const status = yield* Heartbeat.status
      const expected = ["2", "10", "orpheus", "ollama"]
      expect(Object.keys(status.breakers)).toEqual(expected)
      // the wire keeps that order: what docs/heartbeat.md tells a reader of the JSON
      const wire = JSON.parse(JSON.stringify(yield* Schema.encode(Heartbeat.HeartbeatStatus)(status)))
      expect(Object.keys(wire.breakers)).toEqual(expected)
    }).pipe(Effect.provide(registry)))

  it.live("reports the job queue, by state, when a JobSupervisor is in context", () =>
    Effect.gen(function*() {
      const jobs = yield* JobSupervisor.JobSupervisor
      yield* jobs.submit(Echo, { text: "later" }, { delay: "1 hour" })
      yield* jobs.submit(Echo, { text: "much later" }, { delay: "2 hours" })
      yield* jobs.wait(Echo, yield* jobs.submit(Echo, { text: "hi" }))
      yield* Effect.either(jobs.wait(Echo, yield* jobs.submit(Echo, { text: "no" })))
      const status = yield* Heartbeat.status
      const counts = { scheduled: 2, queued: 0, running: 0, retrying: 0, succeeded: 1, failed: 1, cancelled: 0 }
      // failed jobs are the queue's history, not the process's health: still "ok"
      expect(status).toMatchObject({ status: "ok", jobs: { degraded: false, counts, error: null } })
      expect((yield* Schema.encode(Heartbeat.HeartbeatStatus)(status)).jobs).toEqual({
        degraded: false,
        counts,
        error: null
      })
    }).pipe(Effect.provide([registry, supervisor(JobStore.layerMemory)])))

  it.live("a job store that cannot count makes the heartbeat degraded, not failed", () =>
    Effect.gen(function*() {
      const logs = capture()
      const status = yield* Heartbeat.status.pipe(Effect.provide(logs.layer))
      expect(status).toMatchObject({
        status: "degraded",
        jobs: { degraded: true, counts: null, error: "job store failed in counts: disk full" }
      })
      expect(logs.lines).toContainEqual(
        expect.stringContaining("Heartbeat: job counts unavailable: job store failed in counts: disk full")
      )
    }).pipe(Effect.provide([registry, supervisor(brokenStore)])))

  it.prop(
    "seconds_until_retry is the time left rounded up to a tenth",
    [FastCheck.integer({ min: 0, max: 10_000_000 })],
    ([millis]) => {
      const seconds = roundUpTenths(millis / 1000)
      const tenths = Math.round(seconds * 10)
      return Math.abs(seconds * 10 - tenths) < 1e-9 && tenths * 100 >= millis && tenths * 100 < millis + 100
    }
  )
})

describe("Heartbeat.breaker and Heartbeat.reset", () => {
  it.effect("get_stats and reset of one breaker; an unknown name is refused, not created", () =>
    Effect.gen(function*() {
      yield* fail("claude_api", 5)
      expect(yield* Heartbeat.breaker("claude_api")).toMatchObject({
        state: "OPEN",
        consecutiveFailures: 3,
        failureCount: 3
      })
      const logs = capture()
      const after = yield* Heartbeat.reset("claude_api").pipe(Effect.provide(logs.layer))
      expect(after).toMatchObject({ state: "CLOSED", degraded: false, consecutiveFailures: 0, failureCount: 0 })
      expect(logs.lines).toContainEqual(
        "Circuit breaker for claude_api: reset by request (was OPEN, failures: 3) " +
          JSON.stringify({ from: "OPEN", reason: "reset", service: "claude_api" })
      )

      const missing = yield* Effect.either(Heartbeat.reset("claude"))
      expect(missing).toEqual(Either.left(new Heartbeat.BreakerNotFound({ service: "claude", known: ["claude_api"] })))
      expect(Either.isLeft(missing) && missing.left.message).toBe(
        "No circuit breaker named \"claude\" (known: claude_api)"
      )
      const breakers = yield* CircuitBreakers.CircuitBreakers
      expect((yield* breakers.list).map((breaker) => breaker.service)).toEqual(["claude_api"])
      expect(yield* Effect.exit(Heartbeat.breaker("claude"))).toEqual(
        Exit.fail(new Heartbeat.BreakerNotFound({ service: "claude", known: ["claude_api"] }))
      )
    }).pipe(Effect.provide(registry)))
})

describe("Heartbeat spans", () => {
  it.effect("status, breaker and reset each run in a span naming what they saw", () =>
    Effect.gen(function*() {
      yield* fail("ollama", 3)
      const { spans } = yield* recordSpans(
        Effect.all([Heartbeat.status, Heartbeat.breaker("ollama"), Heartbeat.reset("ollama")])
      )
      const byName = Object.fromEntries(spans.map((span) => [span.name, span]))
      expect(Object.keys(byName)).toEqual(["Heartbeat.status", "Heartbeat.breaker", "Heartbeat.reset"])
      expect(spans.every((span) => span.ended)).toBe(true)
      expect(Object.fromEntries(byName["Heartbeat.status"]!.attributes)).toEqual({
        "bulwark.heartbeat.status": "degraded",
        "bulwark.heartbeat.breakers": 1,
        "bulwark.heartbeat.degraded": "ollama"
      })
      expect(Object.fromEntries(byName["Heartbeat.breaker"]!.attributes)).toMatchObject({
        "bulwark.service": "ollama",
        "bulwark.circuit.state": "OPEN"
      })
      expect(Object.fromEntries(byName["Heartbeat.reset"]!.attributes)).toMatchObject({
        "bulwark.service": "ollama",
        "bulwark.circuit.from": "OPEN"
      })
    }).pipe(Effect.provide(registry)))
})

describe("Heartbeat.router over HTTP", () => {
  const served = (router: HttpRouter.HttpRouter<never, CircuitBreakers.CircuitBreakers>) =>
    Effect.flatMap(HttpRouter.toHttpApp(router), serve)

  it.live("GET /heartbeat, GET /breakers/:name, POST /breakers/:name/reset, 404 for an unknown breaker", () =>
    Effect.gen(function*() {
      const { call } = yield* served(Heartbeat.router)
      yield* succeed("agent-http")
      const healthy = yield* call("GET", "/heartbeat")
      expect(healthy.status).toBe(200)
      expect(healthy.headers.get("content-type")).toBe("application/json")
      expect(healthy.headers.get("cache-control")).toBe("no-store")
      expect(healthy.body).toMatchObject({ status: "ok", breakers: { "agent-http": { state: "CLOSED" } }, jobs: null })

      yield* fail("claude_api", 3)
      const degraded = yield* call("GET", "/heartbeat")
      // degraded is not down: the process still answers, so a liveness probe must not kill it
      expect(degraded.status).toBe(200)
      const decoded = yield* Schema.decodeUnknown(Heartbeat.HeartbeatStatus)(degraded.body)
      expect(decoded.status).toBe("degraded")
      expect(decoded.breakers.claude_api).toMatchObject({ state: "OPEN", degraded: true, consecutiveFailures: 3 })
      expect(decoded.breakers.claude_api!.secondsUntilRetry).toBeGreaterThan(59)
      expect(decoded.breakers.claude_api!.secondsUntilRetry).toBeLessThanOrEqual(60)

      const stats = yield* call("GET", "/breakers/claude_api")
      expect(stats.status).toBe(200)
      expect(stats.body).toMatchObject({ service: "claude_api", state: "OPEN", failure_count: 3 })
      // the same status dict as in the heartbeat, but for the time that passed between the two
      expect({ ...stats.body, seconds_until_retry: 0 }).toEqual({
        ...degraded.body.breakers.claude_api,
        seconds_until_retry: 0
      })

      const reset = yield* call("POST", "/breakers/claude_api/reset")
      expect(reset.status).toBe(200)
      expect(reset.body).toMatchObject({ service: "claude_api", state: "CLOSED", degraded: false, failure_count: 0 })
      expect((yield* call("GET", "/heartbeat")).body.status).toBe("ok")

      const unknown = yield* call("GET", "/breakers/claude")
      expect(unknown).toMatchObject({
        status: 404,
        body: {
          error: "BreakerNotFound",
          message: "No circuit breaker named \"claude\" (known: agent-http, claude_api)",
          service: "claude",
          known: ["agent-http", "claude_api"]
        }
      })
      expect((yield* call("POST", "/breakers/claude/reset")).status).toBe(404)
      expect(Object.keys((yield* call("GET", "/heartbeat")).body.breakers)).toEqual(["agent-http", "claude_api"])
      expect((yield* call("GET", "/breakers/agent-http")).body).toMatchObject({ service: "agent-http" })
      expect((yield* call("GET", "/breakers/claude_api/reset")).status).toBe(404) // reset is a POST
    }).pipe(Effect.scoped, Effect.provide(registry)))

  it.live("with degradedStatus 503, a degraded heartbeat answers 503 (for a readiness probe)", () =>
    Effect.gen(function*() {
      const { call } = yield* served(Heartbeat.makeRouter({ degradedStatus: 503 }))
      yield* succeed("ollama")
      expect((yield* call("GET", "/heartbeat")).status).toBe(200)
      yield* fail("ollama", 3)
      const answer = yield* call("GET", "/heartbeat")
      expect([answer.status, answer.body.status]).toEqual([503, "degraded"])
    }).pipe(Effect.scoped, Effect.provide(registry)))
})
