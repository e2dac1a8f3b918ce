import * as Demo from "@bulwark/cli/Demo"
import * as OrpheusEmulator from "@bulwark/emulators/OrpheusEmulator"
import * as JobStore from "@bulwark/jobs/JobStore"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as Telemetry from "@bulwark/telemetry/Telemetry"
import { describe, expect, it } from "@effect/vitest"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Logger } from "effect"

/** The span's parent, under both names the SDK has used for it. */
const parentOf = (span: ReadableSpan): string | undefined =>
  (span as unknown as { parentSpanContext?: { spanId: string } }).parentSpanContext?.spanId ??
    (span as unknown as { parentSpanId?: string }).parentSpanId

/** `root` and every span under it. */
const subtree = (spans: ReadonlyArray<ReadableSpan>, root: ReadableSpan) => {
  const ids = new Set([root.spanContext().spanId])
  let grew = true
  while (grew) {
    grew = false
    for (const span of spans) {
      const parent = parentOf(span)
      if (parent !== undefined && ids.has(parent) && !ids.has(span.spanContext().spanId)) {
        ids.add(span.spanContext().spanId)
        grew = true
      }
    }
  }
  return spans.filter((span) => ids.has(span.spanContext().spanId))
}

describe("the demo's worker, traced", () => {
  it.scopedLive("a job attempt's span carries the client_job_id, its GPU-busy waits are retry events under it", () =>
    Effect.gen(function*() {
      const exporter = new InMemorySpanExporter()
      const emulator = (model: "base" | "bridge" | "loops") =>
        OrpheusEmulator.make({ model, busy: "429", busyHint: "remaining", serviceTime: "5ms", millisPerToken: 0.25 })
      const base = yield* emulator("base")
      const bridge = yield* emulator("bridge")
      const loops = yield* emulator("loops")
      const urls = { base: base.url, bridge: bridge.url, loops: loops.url }
      const type = Demo.composeJob({ serviceTime: "30 millis" })

      const id = yield* Effect.gen(function*() {
        const jobs = yield* JobSupervisor.JobSupervisor
        // Someone else's long generation holds orpheus-base's only GPU slot (about 2 s: time enough for the
        // job to reach it on a loaded runner) ...
        yield* Effect.forkScoped(
          Effect.promise(() =>
            fetch(`${base.url}/predict`, { method: "POST", body: JSON.stringify({ max_tokens: 8000 }) })
          )
        )
        // ... and has it before the job is submitted: the emulator says so, not a guess at how long it takes.
        yield* Effect.gen(function*() {
          while ((yield* base.gpu).inUse === 0) yield* Effect.sleep("5 millis")
        }).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the GPU was never taken") }))
        const id = yield* jobs.submit(type, { title: "traced", maxTokens: 64 })
        const piece = yield* jobs.wait(type, id, { timeout: "20 seconds" })
        expect(piece.sections).toHaveLength(4)
        return id
      }).pipe(
        Effect.provide(
          Demo.worker({ urls, serviceTime: "30 millis" }).pipe(
            Layer.provide(JobStore.layerMemory),
            Layer.provideMerge(Telemetry.layerSpans(exporter, { serviceName: "demo-worker" }))
          )
        ),
        Effect.scoped
      )

      const spans = exporter.getFinishedSpans()
      const attempts = spans.filter((span) => span.name === "JobSupervisor.attempt" && span.attributes["job.id"] === id)
      expect(attempts).toHaveLength(1)
      const attempt = attempts[0]!
      expect(attempt.attributes["bulwark.client_job_id"]).toBe(id)
      expect(attempt.attributes["job.type"]).toBe("demo.compose")

      const under = subtree(spans, attempt)
      expect(under.map((span) => span.name)).toEqual(expect.arrayContaining([
        "Workflow.step generate",
        "Workflow.step continue",
        "Workflow.step bridge",
        "Workflow.step loops",
        "Orpheus.generate",
        "ResilientClient.execute"
      ]))
      // Every Orpheus call under the attempt says which job it served.
      for (const span of under.filter((span) => span.name.startsWith("Orpheus."))) {
        expect(span.attributes["bulwark.client_job_id"]).toBe(id)
      }
      // The busy GPU: orpheus-base answered 429 and the call waited, a `bulwark.retry` event each time.
      const retries = under.flatMap((span) => span.events.filter((event) => event.name === "bulwark.retry"))
      expect(retries.length).toBeGreaterThan(0)
      expect(retries[0]!.attributes).toMatchObject({
        policy: "orpheus-base",
        "error.tag": "RateLimited",
        "rate_limited.free": true
      })
      expect((yield* base.stats).rejections["429"]).toBe(retries.length)
    }).pipe(Effect.provide(Logger.remove(Logger.defaultLogger))))
})
