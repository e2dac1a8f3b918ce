import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either } from "effect"
import * as path from "node:path"
import { expectDocRegions } from "./utils/docs.js"
import { tempDir } from "./utils/store.js"

// #region embed
import { ServeCommand } from "@bulwark/cli"
import { CircuitBreakers } from "@bulwark/core"
import { JobStore, JobSupervisor } from "@bulwark/jobs"
import { Layer } from "effect"

const worker = (options: { readonly port: number; readonly filename: string }) => {
  // The worker's own registry and supervisor (its job types in `types`) …
  const breakers = CircuitBreakers.layer()
  const supervisor = JobSupervisor.layer({ types: [] }).pipe(
    Layer.provide(JobStore.layerSqlite({ filename: options.filename }))
  )
  // … and /heartbeat and /metrics beside them (127.0.0.1 unless `host` says otherwise).
  return ServeCommand.layer({ port: options.port }).pipe(
    Layer.provideMerge(Layer.merge(breakers, supervisor))
  )
}
// For as long as the worker runs:
// Layer.launch(worker({ port: 9464, filename: ".bulwark/jobs.db" })).pipe(NodeRuntime.runMain)
// #endregion

// #region store-url
import { StoreUrl } from "@bulwark/cli"

const parsed = StoreUrl.parse("sqlite:///var/lib/worker/jobs.db")
// Either.right({ _tag: "Sqlite", filename: "/var/lib/worker/jobs.db" })
const refused = StoreUrl.parse("postgres://app:secret@db/jobs")
// Either.left(UnsupportedStore): "PostgreSQL stores are not supported yet (postgres://app:***@db/jobs); …"
// #endregion

describe("docs/cli.md", () => {
  it("shows only code that the tests run", () => expectDocRegions("cli.md", __filename))

  it("store URLs parse as the page says", () => {
    expect(parsed).toEqual(Either.right({ _tag: "Sqlite", filename: "/var/lib/worker/jobs.db" }))
    expect(Either.isLeft(refused) && refused.left._tag).toBe("UnsupportedStore")
    expect(Either.isLeft(refused) && refused.left.message).toContain("(postgres://app:***@db/jobs)")
  })

  it.scopedLive("the embedded endpoints show the worker's breakers and its job queue", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const context = yield* Layer.build(worker({ port: 0, filename: path.join(dir, "jobs.db") }))
      const { url } = Context.get(context, ServeCommand.Serve)
      yield* Effect.flatMap(CircuitBreakers.CircuitBreakers, (registry) => registry.get("github")).pipe(
        Effect.provide(context)
      )
      const body = yield* Effect.promise(() => fetch(`${url}/heartbeat`).then((response) => response.json()))
      expect(body).toMatchObject({
        status: "ok",
        breakers: { github: { state: "CLOSED", degraded: false } },
        jobs: { degraded: false, counts: { queued: 0, running: 0 } }
      })
    }), 15_000)
})
