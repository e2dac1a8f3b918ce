import * as ServeCommand from "@bulwark/cli/ServeCommand"
import * as Telemetry from "@bulwark/telemetry/Telemetry"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, Fiber, Layer } from "effect"
import * as net from "node:net"
import * as path from "node:path"
import { forkCli, runCli } from "./utils/cli.js"
import { seed, tempDir } from "./utils/store.js"

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
    return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
  })

describe("bulwark serve", () => {
  it.scopedLive(
    "serves /heartbeat with the store's queue and /metrics with the jobs by state, until interrupted",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const filename = path.join(dir, "jobs.db")
        yield* seed(filename)
        const serve = yield* forkCli("serve", "--port", "0", "--store", `sqlite:${filename}`)
        const [, url] = yield* serve.waitFor(/serving (http:\/\/127\.0\.0\.1:\d+)\/heartbeat/)
        // Its heartbeat cannot see a worker's breakers, and says so before anyone reads `"breakers": {}`.
        yield* serve.waitFor(/Ctrl-C to stop/)
        expect(yield* serve.stdout).toContain(`${ServeCommand.perProcessNote}\n`)

        const heartbeat = yield* get(`${url}/heartbeat`)
        expect(heartbeat.status).toBe(200)
        const body = JSON.parse(heartbeat.body)
        expect(body).toMatchObject({
          status: "ok",
          breakers: {},
          jobs: {
            degraded: false,
            counts: { scheduled: 1, queued: 1, running: 1, retrying: 0, succeeded: 1, failed: 1, cancelled: 0 }
          }
        })

        const metrics = yield* get(`${url}/metrics`)
        expect(metrics.status).toBe(200)
        expect(metrics.type).toContain("text/plain")
        expect(metrics.body).toMatch(/^bulwark_jobs\{[^}]*state="failed"[^}]*\} 1$/m)
        expect(metrics.body).toMatch(/^bulwark_jobs\{[^}]*state="scheduled"[^}]*\} 1$/m)

        expect((yield* get(`${url}/nothing`)).status).toBe(404)

        yield* Fiber.interrupt(serve.fiber)
        // Closed with the scope: nothing listens there any more.
        const refused = yield* Effect.promise(() => fetch(`${url}/heartbeat`).then(() => false, () => true))
        expect(refused).toBe(true)
      }),
    15_000
  )

  it.scoped("refuses a store that does not exist, and a port in use, in one line each", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const missing = yield* runCli("serve", "--port", "0", "--store", `sqlite:${path.join(dir, "none.db")}`)
      expect(missing.code).toBe(1)
      expect(missing.stderr).toMatch(/^bulwark: no job store at .*none\.db: /)

      const filename = path.join(dir, "jobs.db")
      yield* seed(filename)
      const blocker = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const server = net.createServer()
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
          })
      )
      const port = (blocker.address() as net.AddressInfo).port
      const taken = yield* runCli("serve", "--port", String(port), "--store", `sqlite:${filename}`)
      expect(taken.code).toBe(1)
      expect(taken.stderr.split("\n").filter((line) => line !== "")).toHaveLength(1)
      expect(taken.stderr).toContain("EADDRINUSE")
      expect(taken.stderr).toContain(String(port))
    }))

  it.scoped("bad arguments are refused before anything starts", () =>
    Effect.gen(function*() {
      const port = yield* runCli("serve", "--port", "-1")
      expect(port.code).toBe(2)
      expect(port.stderr).toContain("--port must be a whole number from 0 to 65535")
      const store = yield* runCli("serve", "--store", "postgresql://db/jobs")
      expect(store.code).toBe(1)
      expect(store.stderr).toContain("PostgreSQL stores are not supported yet")
    }))
})

describe("ServeCommand.run, traced", () => {
  it.scoped("a store URL's password is in no span: the span is annotated once the URL is parsed", () =>
    Effect.gen(function*() {
      const exporter = new InMemorySpanExporter()
      for (const store of ["postgres://u:s3cret@h/db", "sqlite://u:s3cret@h/jobs.db"]) {
        const exit = yield* ServeCommand.run({ port: 0, host: "127.0.0.1", store }).pipe(
          Effect.provide(Layer.merge(NodeContext.layer, Telemetry.layerSpans(exporter))),
          Effect.exit
        )
        expect(exit._tag).toBe("Failure")
      }
      const spans = exporter.getFinishedSpans()
      expect(spans.map((span) => span.name)).toContain("ServeCommand.run")
      for (const span of spans) {
        const seen = JSON.stringify({ attributes: span.attributes, events: span.events, status: span.status })
        expect(seen, span.name).not.toContain("s3cret")
      }
    }))
})
