// #region start-imports
import * as Orpheus from "@bulwark/clients/Orpheus"
import * as Policy from "@bulwark/core/Policy"
import * as JobStore from "@bulwark/jobs/JobStore"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as JobType from "@bulwark/jobs/JobType"
import * as Workflow from "@bulwark/jobs/Workflow"
import * as Telemetry from "@bulwark/telemetry/Telemetry"
import { FetchHttpClient } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Schema } from "effect"
// #endregion

// #region start-policy
// Any Effect, made resilient: retries with backoff and jitter that honour Retry-After,
// a circuit breaker, timeouts — the standard stack, named after the service it protects.
// Build a policy once and share it: its breaker and retry budget learn from every call.
export const twice = <A, E, R>(call: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const policy = yield* Policy.standard("status_page", { attemptTimeout: "5 seconds" })
    const first = yield* policy.protect(call)
    const second = yield* policy.protect(call)
    return [first, second] as const
  })
// #endregion

// #region start-job
const Midi = Schema.Uint8ArrayFromBase64

// A durable job: each step's result is stored, so a re-queued or restarted job resumes after its
// last finished step. The Orpheus client waits out "GPU busy" as long as Retry-After says.
export const Compose = JobType.make({
  name: "compose",
  payload: Schema.Struct({ title: Schema.String }),
  result: Schema.Struct({ title: Schema.String, bytes: Schema.Number }),
  handler: ({ title }) =>
    Effect.gen(function*() {
      const orpheus = yield* Orpheus.Orpheus
      const { id } = yield* JobType.CurrentJob // sent as client_job_id on every call
      const opening = yield* Workflow.step(
        "generate",
        Midi,
        orpheus.generate({ maxTokens: 256, clientJobId: id }).pipe(Effect.map((g) => g.variations[0]!.midi))
      )
      const piece = yield* Workflow.step(
        "continue",
        Midi,
        orpheus.continue({ midi: opening, maxTokens: 256, clientJobId: id }).pipe(
          Effect.map((g) => g.variations[0]!.midi)
        )
      )
      return { title, bytes: piece.length }
    })
})
// #endregion

// #region start-run
// Jobs on a SQLite file (it survives a crash), the Orpheus servers from ORPHEUS_BASE_URL, …,
// traces and metrics over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
const appLive = (filename: string) =>
  JobSupervisor.layer({ types: [Compose] }).pipe(
    Layer.provide(JobStore.layerSqlite({ filename })),
    Layer.provide(Orpheus.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))),
    Layer.provide(Telemetry.layerConfig())
  )

export const main = (filename = "jobs.db") =>
  Effect.gen(function*() {
    const jobs = yield* JobSupervisor.JobSupervisor
    const ids = yield* Effect.forEach(["overture", "fanfare", "coda"], (title) => jobs.submit(Compose, { title }))
    const pieces = yield* Effect.forEach(ids, (id) => jobs.wait(Compose, id, { timeout: "10 minutes" }), {
      concurrency: "unbounded"
    })
    for (const piece of pieces) yield* Console.log(`${piece.title}: ${piece.bytes} bytes of MIDI`)
    return pieces
  }).pipe(Effect.provide(appLive(filename)))

if (process.argv[1] === import.meta.filename) NodeRuntime.runMain(main())
// #endregion
