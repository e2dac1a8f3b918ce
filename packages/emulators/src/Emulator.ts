/**
 * The server every emulator runs on: a real HTTP server on 127.0.0.1 (port 0,
 * so tests never collide), the fault timeline applied to every request, the
 * counters of `EmulatorStats`, and `GET /_emulator/stats`.
 *
 * An emulator module builds its routes and its state, then hands them to
 * `serve`; what it gets back is where it listens and how to read its counters.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as http from "node:http"
import type * as EmulatorStats from "./EmulatorStats.js"
import * as Faults from "./Faults.js"
import * as Seeded from "./internal/seeded.js"

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Emulator {
  readonly service: string
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  readonly url: string
  readonly port: number
  readonly stats: Effect.Effect<EmulatorStats.Snapshot>
  readonly resetStats: Effect.Effect<void>
}

/**
 * The options every emulator takes.
 *
 * @since 0.1.0
 * @category Options
 */
export interface CommonOptions {
  /** Default 0: a free port chosen by the system. */
  readonly port?: number | undefined
  /** A fault spec (see `Faults`) or a parsed timeline. Default: no faults. */
  readonly faults?: string | Faults.Timeline | undefined
  /** Seeds the emulator's synthetic outputs and service times. Default 0. */
  readonly seed?: number | undefined
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface ServeOptions extends CommonOptions {
  readonly stats: EmulatorStats.EmulatorStats
  /**
   * The service's own answer for a status the timeline injects (and for 404 /
   * 500 from the routes): its error body format, its headers (Retry-After).
   */
  readonly failure: (status: number, decision: Faults.Decision) => HttpServerResponse.HttpServerResponse
}

/**
 * An emulator option that makes no sense (a negative capacity, an unknown
 * model); names the service, the option and what is wrong.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidEmulatorOption extends Schema.TaggedError<InvalidEmulatorOption>()("InvalidEmulatorOption", {
  service: Schema.String,
  option: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Invalid option ${this.option} of the ${this.service} emulator: ${this.reason}`
  }
}

/**
 * Reads the `faults` option: a string is parsed, a timeline taken as is.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const timeline = (faults: CommonOptions["faults"]): Either.Either<Faults.Timeline, Faults.InvalidFaultSpec> =>
  faults === undefined
    ? Either.right(Faults.none)
    : typeof faults === "string"
    ? Faults.parse(faults)
    : Either.right(faults)

const htmlPage = new TextEncoder().encode(
  "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
)

/** The answer's bytes when it has them at hand; a stream yields only its first chunk (enough to cut or trickle). */
const bodyBytes = (response: HttpServerResponse.HttpServerResponse): Effect.Effect<Uint8Array | undefined> => {
  const body = response.body
  switch (body._tag) {
    case "Uint8Array":
      return Effect.succeed(body.body)
    case "Stream":
      return body.stream.pipe(
        Stream.runCollect,
        Effect.map((chunks) => {
          const all = Chunk.toReadonlyArray(chunks)
          const bytes = new Uint8Array(all.reduce((n, chunk) => n + chunk.length, 0))
          let offset = 0
          for (const chunk of all) bytes.set(chunk, (offset += chunk.length) - chunk.length)
          return bytes
        }),
        Effect.orElseSucceed(() => undefined)
      )
    default:
      return Effect.succeed(undefined)
  }
}

const contentTypeOf = (response: HttpServerResponse.HttpServerResponse) =>
  "contentType" in response.body && typeof response.body.contentType === "string"
    ? response.body.contentType
    : "application/octet-stream"

const truncate = (response: HttpServerResponse.HttpServerResponse) =>
  Effect.map(
    bodyBytes(response),
    (bytes) =>
      bytes === undefined || bytes.length < 2 ? response : HttpServerResponse.uint8Array(
        bytes.subarray(0, Math.floor(bytes.length / 2)),
        { status: response.status, headers: response.headers, contentType: contentTypeOf(response) }
      )
  )

/** Headers at once, then the body in ten pieces spread over `millis`. */
const trickle = (response: HttpServerResponse.HttpServerResponse, millis: number) =>
  Effect.map(bodyBytes(response), (bytes) => {
    if (bytes === undefined) return response
    const size = Math.max(1, Math.ceil(bytes.length / 10))
    const pieces = Array.from(
      { length: Math.ceil(bytes.length / size) },
      (_, i) => bytes.subarray(i * size, (i + 1) * size)
    )
    const pause = Duration.millis(millis / Math.max(1, pieces.length))
    return HttpServerResponse.stream(
      Stream.fromIterable(pieces).pipe(Stream.tap(() => Effect.sleep(pause))),
      { status: response.status, headers: response.headers, contentType: contentTypeOf(response) }
    )
  })

const isRouteNotFound = (cause: Cause.Cause<unknown>) =>
  Cause.failureOption(cause).pipe((failure) =>
    failure._tag === "Some" && HttpServerError.isServerError(failure.value) && failure.value._tag === "RouteNotFound"
  )

/**
 * Serves `app` on 127.0.0.1 until the scope closes, with the fault timeline
 * in front of it and `GET /_emulator/stats` beside it.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const serve = <E, R>(
  app: HttpApp.Default<E, R>,
  options: ServeOptions
): Effect.Effect<
  Emulator,
  Faults.InvalidFaultSpec | HttpServerError.ServeError,
  Scope.Scope | Exclude<Exclude<R, Scope.Scope>, HttpServerRequest.HttpServerRequest>
> =>
  Effect.gen(function*() {
    const faults = yield* timeline(options.faults)
    const stats = options.stats
    const uniform = Seeded.generator(faults.seed)
    const startedAt = yield* Clock.currentTimeMillis
    const service = (yield* stats.snapshot).service

    const answer = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const decision = Faults.decide(faults, (yield* Clock.currentTimeMillis) - startedAt, uniform)
        if (decision.delayMillis > 0) {
          yield* stats.fault("latency")
          yield* Effect.sleep(Duration.millis(decision.delayMillis))
        }
        if (decision.reset) {
          yield* stats.fault("reset")
          NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
          return yield* Effect.interrupt
        }
        if (decision.status !== undefined) {
          yield* stats.fault(`status-${decision.status}`)
          return options.failure(decision.status, decision)
        }
        if (decision.wrongContentType) {
          // answered before the route runs: a proxy's error page means the service never saw the request
          yield* stats.fault("wrong-content-type")
          return HttpServerResponse.uint8Array(htmlPage, { status: 200, contentType: "text/html; charset=utf-8" })
        }
        let response = yield* app.pipe(
          Effect.catchAllCause((cause) =>
            isRouteNotFound(cause)
              ? Effect.succeed(options.failure(404, decision))
              : Cause.isInterruptedOnly(cause)
              // the client went away (an attempt timeout, say): nothing failed here
              ? Effect.interrupt
              : Effect.as(
                Effect.logError("emulator route failed", cause).pipe(Effect.annotateLogs("service", service)),
                options.failure(500, decision)
              )
          ),
          Effect.scoped
        )
        if (decision.truncatedJson) {
          yield* stats.fault("truncated-json")
          response = yield* truncate(response)
        }
        if (decision.slowBodyMillis > 0) {
          yield* stats.fault("slow-body")
          response = yield* trickle(response, decision.slowBodyMillis)
        }
        return response
      })

    const handler = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      request.method === "GET" && request.url.split("?")[0] === "/_emulator/stats"
        ? Effect.flatMap(stats.snapshot, (snapshot) =>
          HttpServerResponse.json(snapshot))
        : stats.request(
          Effect.tap(answer(request), (response) => stats.respond(response.status))
        ))

    const nodeServer = http.createServer()
    // Uninterruptible: interrupted while listening, NodeHttpServer.make registers no close and the port stays bound.
    const server = yield* Effect.uninterruptible(
      NodeHttpServer.make(() =>
        nodeServer, { port: options.port ?? 0, host: "127.0.0.1" })
    )
    // runs before the server's own close, which would otherwise wait for idle keep-alive connections
    yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
    yield* server.serve(handler)
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    yield* Effect.annotateCurrentSpan({ "emulator.service": service, "emulator.port": port })
    yield* Effect.logDebug(`emulator ${service} listening on http://127.0.0.1:${port}`)
    return {
      service,
      url: `http://127.0.0.1:${port}`,
      port,
      stats: stats.snapshot,
      resetStats: stats.reset
    }
  })
