/**
 * The service: `GET /summary?topic=…` asks both upstreams at once and answers
 * with what it got, degrading instead of failing when one of them is down
 * (seed 003's service goes on serving while the AI Horde is unreachable);
 * beside it, `Heartbeat.router` (`/heartbeat`, `/breakers/:name`,
 * `POST /breakers/:name/reset`) and `Prometheus.router` (`/metrics`).
 */
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import { Heartbeat, Prometheus } from "@bulwark/telemetry"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Either, Schema } from "effect"
import { createServer } from "node:http"
import type { Settings } from "./Settings.js"
import type { Name, Upstream } from "./Upstreams.js"
import * as Upstreams from "./Upstreams.js"

/** One upstream's part of a summary: its answer or why there is none, and its breaker's state after the call. */
export const Part = Schema.Union(
  Schema.Struct({
    ok: Schema.Literal(true),
    model: Schema.String,
    text: Schema.String,
    breaker: Heartbeat.BreakerState
  }),
  Schema.Struct({
    ok: Schema.Literal(false),
    model: Schema.String,
    error: Schema.String,
    breaker: Heartbeat.BreakerState
  })
)

/**
 * `status`: `ok` when both answered, `degraded` when one did (HTTP 200 either
 * way: the page is useful), `down` when none did (HTTP 503).
 */
export const Summary = Schema.Struct({
  topic: Schema.String,
  status: Schema.Literal("ok", "degraded", "down"),
  parts: Schema.Record({ key: Schema.Literal(...Upstreams.names), value: Part })
})

export type Summary = typeof Summary.Type

const encodeSummary = HttpServerResponse.schemaJson(Summary)

const summarise = (upstreams: ReadonlyArray<Upstream>, topic: string) =>
  Effect.gen(function*() {
    const breakers = yield* CircuitBreakers.CircuitBreakers
    const answers = yield* Effect.forEach(
      upstreams,
      (upstream) => Effect.map(Effect.either(upstream.ask(topic)), (answer) => [upstream, answer] as const),
      { concurrency: "unbounded" }
    )
    const parts = {} as Record<Name, typeof Part.Type>
    for (const [upstream, answer] of answers) {
      const breaker = yield* Effect.flatMap(breakers.get(upstream.name), (breaker) => breaker.state)
      const { model } = upstream
      parts[upstream.name] = Either.isRight(answer)
        ? { ok: true, model, text: answer.right, breaker }
        : { ok: false, model, error: answer.left, breaker }
    }
    const answered = answers.filter(([, answer]) => Either.isRight(answer)).length
    const status = answered === answers.length ? "ok" : answered > 0 ? "degraded" : "down"
    yield* Effect.annotateCurrentSpan({ "heartbeat.topic": topic, "heartbeat.status": status })
    return { topic, status, parts } satisfies Summary
  }).pipe(Effect.withSpan("heartbeat.summary"))

/** Every route of the service, over the upstreams given. */
export const router = (upstreams: ReadonlyArray<Upstream>) =>
  HttpRouter.empty.pipe(
    HttpRouter.get(
      "/summary",
      Effect.gen(function*() {
        const { topic = "circuit breakers" } = yield* HttpServerRequest.schemaSearchParams(
          Schema.Struct({ topic: Schema.optional(Schema.NonEmptyTrimmedString) })
        )
        const summary = yield* summarise(upstreams, topic)
        return yield* encodeSummary(summary, { status: summary.status === "down" ? 503 : 200 })
      }).pipe(
        Effect.catchTag("ParseError", () =>
          HttpServerResponse.json({ error: "BadRequest", message: "topic must be a non-empty text" }, { status: 400 }))
      )
    ),
    HttpRouter.concat(Heartbeat.router),
    HttpRouter.concat(Prometheus.router)
  )

/**
 * Starts the upstreams (emulators when no URL is set) and the service on
 * 127.0.0.1 for the life of the scope; answers where it listens.
 */
export const serve = (settings: Settings) =>
  Effect.gen(function*() {
    const upstreams = yield* Upstreams.make(settings)
    const nodeServer = createServer()
    // Uninterruptible: NodeHttpServer.make's finalizer leaves alone a server not yet listening, so one
    // interrupted during `listen` (a sibling layer failed) would go on listening and keep the process alive.
    const server = yield* Effect.uninterruptible(
      NodeHttpServer.make(() => nodeServer, { port: settings.port, host: "127.0.0.1" })
    )
    // before the server's own close, which would wait for idle keep-alive connections
    yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
    yield* server.serve(router(upstreams))
    const port = server.address._tag === "TcpAddress" ? server.address.port : settings.port
    return { url: `http://127.0.0.1:${port}`, upstreams }
  })
