import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

// #region embed
import { CircuitBreakers } from "@bulwark/core"
import { JobStore, JobSupervisor } from "@bulwark/jobs"
import { StatusServer } from "@bulwark/telemetry"
import { Layer } from "effect"

const worker = (options: { readonly port: number; readonly filename: string }) => {
  // The worker's own registry and supervisor (its job types in `types`) …
  const breakers = CircuitBreakers.layer()
  const supervisor = JobSupervisor.layer({ types: [] }).pipe(
    Layer.provide(JobStore.layerSqlite({ filename: options.filename }))
  )
  // … and /heartbeat and /metrics beside them (127.0.0.1 unless `host` says otherwise).
  return StatusServer.layer({ port: options.port }).pipe(
    Layer.provideMerge(Layer.merge(breakers, supervisor))
  )
}
// For as long as the worker runs:
// Layer.launch(worker({ port: 9464, filename: ".bulwark/jobs.db" })).pipe(NodeRuntime.runMain)
// #endregion

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "bulwark-status-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

describe("docs/status-server.md", () => {
  it("shows only code that the tests run", () => expectDocRegions("status-server.md", __filename))

  it.scopedLive("the embedded endpoints show the worker's breakers and its job queue", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const context = yield* Layer.build(worker({ port: 0, filename: path.join(dir, "jobs.db") }))
      const url = yield* Effect.provide(StatusServer.url, context)
      yield* Effect.flatMap(CircuitBreakers.CircuitBreakers, (registry) => registry.get("github")).pipe(
        Effect.provide(context)
      )
      const body = yield* Effect.promise(() => fetch(`${url}/heartbeat`).then((response) => response.json()))
      expect(body).toMatchObject({
        status: "ok",
        breakers: { github: { state: "CLOSED", degraded: false } },
        jobs: { degraded: false, counts: { queued: 0, running: 0 } }
      })
      const metrics = yield* Effect.promise(() => fetch(`${url}/metrics`).then((response) => response.text()))
      expect(metrics).toMatch(/^bulwark_circuit_state\{[^}]*service="github"[^}]*\} 0$/m)
    }), 15_000)
})
