import { Errors } from "@bulwark/core"
import { describe, expect, it } from "@effect/vitest"
import type { Tracer } from "effect"
import { Context, Effect, Exit, Fiber, Layer, Metric, Option, Schema, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as JobMetrics from "../src/JobMetrics.js"
import * as JobStore from "../src/JobStore.js"
import * as JobSupervisor from "../src/JobSupervisor.js"
import * as JobType from "../src/JobType.js"
import { advance, settle } from "./utils/supervisor.js"
import { recordingTracer } from "./utils/tracing.js"

/** A job type whose handler records the links of the span it runs in. */
const linked = () => {
  const links: Array<ReadonlyArray<Tracer.SpanLink>> = []
  const type = JobType.make({
    name: "linked",
    payload: Schema.Struct({}),
    result: Schema.Null,
    handler: () =>
      Effect.map(Effect.currentSpan, (span) => {
        links.push(span.name === "JobSupervisor.attempt" && "links" in span ? [...(span as any).links] : [])
        return null
      }).pipe(Effect.orDie)
  })
  return { links, type }
}

const tempFile = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "bulwark-telemetry-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  ),
  (dir) => path.join(dir, "jobs.db")
)

const gauge = (state: string) =>
  Effect.map(Metric.value(Metric.tagged(JobMetrics.jobs, "state", state)), (value) => value.value)

describe("JobSupervisor telemetry", () => {
  it.scoped("counts gives jobs per state; the bulwark_jobs gauge follows it every metricsInterval", () =>
    Effect.gen(function*() {
      const { type } = linked()
      const supervisor = yield* JobSupervisor.make({ types: [type], metricsInterval: "1 second" })
      yield* supervisor.submit(type, {})
      yield* supervisor.submit(type, {}, { delay: "1 hour" })
      const cancelled = yield* supervisor.submit(type, {}, { delay: "1 hour" })
      yield* supervisor.cancel(cancelled)
      yield* settle
      const counts = yield* supervisor.counts
      expect(counts).toEqual({
        scheduled: 1,
        queued: 0,
        running: 0,
        retrying: 0,
        succeeded: 1,
        failed: 0,
        cancelled: 1
      })
      yield* advance(1_000)
      expect(yield* gauge("succeeded")).toBe(1)
      expect(yield* gauge("scheduled")).toBe(1)
      expect(yield* gauge("cancelled")).toBe(1)
      expect(yield* gauge("queued")).toBe(0)
      yield* supervisor.submit(type, {}, { delay: "1 hour" })
      yield* advance(1_000)
      expect(yield* gauge("scheduled")).toBe(2)
    }).pipe(Effect.provide(JobStore.layerMemory)))

  it.scoped("an attempt's span links to the submit span (same trace); the attempt is a root span", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* recordingTracer
      yield* Effect.gen(function*() {
        const { links, type } = linked()
        const supervisor = yield* JobSupervisor.make({ types: [type] })
        const request = yield* Effect.withSpan(
          Effect.flatMap(Effect.currentSpan, (span) => Effect.as(supervisor.submit(type, {}), span)),
          "request"
        )
        yield* settle
        const submit = spans.find((span) => span.name === "JobSupervisor.submit")!
        expect(submit.traceId).toBe(request.traceId)
        expect(links).toEqual([[{
          _tag: "SpanLink",
          span: expect.objectContaining({ _tag: "ExternalSpan", traceId: request.traceId, spanId: submit.spanId }),
          attributes: { "job.link": "submit" }
        }]])
        const attempt = spans.find((span) => span.name === "JobSupervisor.attempt")!
        expect(Option.isNone(attempt.parent)).toBe(true)
        expect(attempt.traceId).not.toBe(request.traceId)
      }).pipe(Effect.withTracer(tracer))
    }).pipe(Effect.provide(JobStore.layerMemory)))

  it.scoped("an attempt's span carries the job id as client_job_id and the job-level decision as an event", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* recordingTracer
      yield* Effect.gen(function*() {
        let runs = 0
        const flaky = JobType.make({
          name: "flaky",
          payload: Schema.Struct({ fatal: Schema.Boolean }),
          result: Schema.Null,
          jitter: "none",
          handler: ({ fatal }): Effect.Effect<null, Errors.Rejected | Errors.Unavailable> =>
            fatal
              ? Effect.fail(new Errors.Rejected({ service: "gpu", status: 404 }))
              : runs++ === 0
              ? Effect.fail(new Errors.Unavailable({ service: "gpu" }))
              : Effect.succeed(null)
        })
        const supervisor = yield* JobSupervisor.make({ types: [flaky] })
        const retried = yield* supervisor.submit(flaky, { fatal: false })
        const failed = yield* supervisor.submit(flaky, { fatal: true })
        yield* advance(5_000)
        const attemptsOf = (id: string) =>
          spans.filter((span) => span.name === "JobSupervisor.attempt" && span.attributes.get("job.id") === id)
        const eventsOf = (span: Tracer.Span) =>
          ((span as unknown as { events: Array<[string, bigint, Record<string, unknown>]> }).events ?? [])
            .map(([name, , attributes]) => ({ name, ...attributes }))
        const [first, second] = attemptsOf(retried)
        expect(first!.attributes.get("bulwark.client_job_id")).toBe(retried)
        expect(eventsOf(first!)).toEqual([{
          name: "bulwark.job.requeue",
          "error.tag": "Unavailable",
          reason: "backoff",
          counted: true,
          delay_ms: 1_000
        }])
        expect(first!.status._tag).toBe("Ended")
        expect(eventsOf(second!)).toEqual([])
        const [only] = attemptsOf(failed)
        expect(eventsOf(only!)).toEqual([{ name: "bulwark.job.failed", "error.tag": "Rejected" }])
      }).pipe(Effect.withTracer(tracer))
    }).pipe(Effect.provide(JobStore.layerMemory)))

  it.scoped("the link holds across processes: submitted through one SQLite connection, run through another", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      const { spans, tracer } = yield* recordingTracer
      const { links, type } = linked()
      const open = (scope: Scope.Scope) =>
        Layer.buildWithScope(JobStore.layerSqlite({ filename }), scope).pipe(
          Effect.map((context) => Context.get(context, JobStore.JobStore))
        )
      // The submitting "process": its own connection and a supervisor that runs no type.
      const submitting = yield* Scope.make()
      const submitter = yield* JobSupervisor.make({ types: [] }).pipe(
        Effect.provideService(JobStore.JobStore, yield* open(submitting)),
        Scope.extend(submitting)
      )
      const { id, request } = yield* Effect.gen(function*() {
        const request = yield* Effect.currentSpan
        return { id: yield* submitter.submit(type, {}), request }
      }).pipe(Effect.withSpan("request"), Effect.withTracer(tracer))
      const submit = spans.find((span) => span.name === "JobSupervisor.submit")!
      expect((yield* submitter.status(id)).traceparent).toBe(`00-${request.traceId}-${submit.spanId}-01`)
      yield* Scope.close(submitting, Exit.void)
      // The running "process": another connection, another supervisor, no memory of the submit.
      const worker = yield* JobSupervisor.make({ types: [type] }).pipe(
        Effect.provideService(JobStore.JobStore, yield* open(yield* Effect.scope))
      )
      const waiting = yield* Effect.fork(worker.wait(type, id))
      yield* advance(1_000)
      expect(yield* Fiber.join(waiting)).toBeNull()
      expect(links).toHaveLength(1)
      expect(links[0]![0]!.span).toMatchObject({
        _tag: "ExternalSpan",
        traceId: request.traceId,
        spanId: submit.spanId,
        sampled: true
      })
    }))
})
