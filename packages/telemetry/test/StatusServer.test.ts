import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import { Context, Effect, Layer, Logger } from "effect"
import * as net from "node:net"
import * as StatusServer from "../src/StatusServer.js"
import * as Telemetry from "../src/Telemetry.js"

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
    return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
  })

const refused = (url: string) => Effect.promise(() => fetch(url).then(() => false, () => true))

/** A port something else listens on, for the life of the scope. */
const portInUse = Effect.acquireRelease(
  Effect.async<net.Server>((resume) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
).pipe(Effect.map((server) => (server.address() as net.AddressInfo).port))

describe("StatusServer", () => {
  it.scopedLive(
    "embedded in a worker: the worker's own breakers in /heartbeat and /metrics, reset by POST",
    () =>
      Effect.gen(function*() {
        const context = yield* Layer.build(
          StatusServer.layer({ port: 0 }).pipe(Layer.provideMerge(CircuitBreakers.layer()))
        )
        const url = yield* Effect.provide(StatusServer.url, context)
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
        const breakers = Context.get(context, CircuitBreakers.CircuitBreakers)
        const orpheus = yield* breakers.get("orpheus")
        yield* orpheus.isolate

        const heartbeat = yield* get(`${url}/heartbeat`)
        expect(heartbeat.type).toContain("application/json")
        expect(JSON.parse(heartbeat.body)).toMatchObject({
          status: "degraded",
          breakers: { orpheus: { state: "ISOLATED" } },
          jobs: null
        })
        const metrics = yield* get(`${url}/metrics`)
        expect(metrics.type).toContain("text/plain")
        expect(metrics.body).toMatch(/^bulwark_circuit_state\{[^}]*service="orpheus"[^}]*\} 3$/m)
        expect((yield* get(`${url}/nothing`)).status).toBe(404)

        const reset = yield* Effect.promise(() =>
          fetch(`${url}/breakers/orpheus/reset`, { method: "POST" }).then((response) => response.json())
        )
        expect(reset).toMatchObject({ service: "orpheus", state: "CLOSED" })
      }),
    15_000
  )

  it.scopedLive("listening is a span with the address, and one INFO line says where", () =>
    Effect.gen(function*() {
      const exporter = new InMemorySpanExporter()
      const logs: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => logs.push(`${logLevel.label} ${String(message)}`))
      const url = yield* Effect.scoped(
        Layer.build(StatusServer.layer({ port: 0 }).pipe(Layer.provide(CircuitBreakers.layer()))).pipe(
          Effect.flatMap((context) => Effect.provide(StatusServer.url, context))
        )
      ).pipe(
        Effect.provide(Layer.merge(Telemetry.layerSpans(exporter), Logger.replace(Logger.defaultLogger, logger)))
      )
      const span = exporter.getFinishedSpans().find((span) => span.name === "StatusServer.listen")
      expect(span?.attributes).toEqual({ "server.address": "127.0.0.1", "server.port": Number(url.split(":")[2]) })
      expect(logs).toContain(`INFO Status at ${url}/heartbeat and ${url}/metrics`)
    }), 15_000)

  it.scopedLive("released with its layer: nothing listens there any more", () =>
    Effect.gen(function*() {
      const url = yield* Effect.scoped(
        Effect.gen(function*() {
          const context = yield* Layer.build(
            StatusServer.layer({ port: 0 }).pipe(Layer.provide(CircuitBreakers.layer()))
          )
          const url = yield* Effect.provide(StatusServer.url, context)
          expect((yield* get(`${url}/heartbeat`)).status).toBe(200)
          return url
        })
      )
      expect(yield* refused(`${url}/heartbeat`)).toBe(true)
    }), 15_000)

  it.scopedLive("a port in use is a ServeError in the error channel", () =>
    Effect.gen(function*() {
      const port = yield* portInUse
      const error = yield* Layer.build(
        StatusServer.layer({ port }).pipe(Layer.provide(CircuitBreakers.layer()))
      ).pipe(Effect.scoped, Effect.flip)
      expect(error._tag).toBe("ServeError")
    }), 15_000)
})
