/**
 * A worker's status on one server of its own: `/heartbeat` and the breaker
 * routes (see `Heartbeat`) beside `/metrics` (see `Prometheus`). Embedded in
 * the worker, next to its `CircuitBreakers` registry and `JobSupervisor`, it
 * shows the worker's own breakers and queue; `bulwark serve` runs it beside
 * a store, with no breakers of its own.
 *
 * It binds 127.0.0.1 unless told otherwise: the reset route changes a
 * breaker, which is nothing to offer a network unasked.
 *
 * @since 0.1.0
 */
import type * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Heartbeat from "./Heartbeat.js"
import { listen } from "./internal/listen.js"
import * as Prometheus from "./Prometheus.js"

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Default {@link defaultPort}; 0 for any free port (read it with {@link url}). */
  readonly port?: number | undefined
  /** Default {@link defaultHost}. `0.0.0.0` listens on every interface. */
  readonly host?: string | undefined
  /**
   * The `target_info` resource of `/metrics` and how labels are written;
   * `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` are laid over it.
   */
  readonly prometheus?: Prometheus.Options | undefined
}

/**
 * The port of the Prometheus exporters' convention.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaultPort = 9464

/**
 * Loopback, and reachable by an IPv4 client (`localhost` may resolve to
 * `::1` alone).
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaultHost = "127.0.0.1"

/**
 * `GET /heartbeat`, `GET /breakers/:name`, `POST /breakers/:name/reset` and
 * `GET /metrics`, to mount in a server of your own (with `Prometheus.layer`).
 *
 * @since 0.1.0
 * @category Routers
 */
export const router = HttpRouter.concat(Heartbeat.router, Prometheus.router)

/**
 * Serves {@link router} until the layer is released. Needs the breaker
 * registry; give it the worker's `JobSupervisor` too, in the same
 * `Layer.provide`, for the job queue in the heartbeat (`"jobs": null`
 * without one). The `HttpServer` it gives says where it listens.
 *
 * ```ts
 * const status = StatusServer.layer({ port: 9464 }).pipe(
 *   Layer.provide(Layer.merge(breakers, supervisor))
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  HttpServer.HttpServer | Prometheus.Prometheus,
  HttpServerError.ServeError | ConfigError.ConfigError,
  CircuitBreakers.CircuitBreakers
> => {
  const host = options.host ?? defaultHost
  const ServerLive = Layer.scoped(
    HttpServer.HttpServer,
    Effect.gen(function*() {
      const server = yield* listen({ host, port: options.port ?? defaultPort })
      yield* server.serve(yield* HttpRouter.toHttpApp(router))
      yield* Effect.annotateCurrentSpan({ "server.address": host, "server.port": portOf(server) })
      yield* Effect.logInfo(`Status at ${urlOf(server)}/heartbeat and ${urlOf(server)}/metrics`)
      return server
    }).pipe(Effect.withSpan("StatusServer.listen"))
  )
  return ServerLive.pipe(Layer.provideMerge(Prometheus.layerConfig(options.prometheus)))
}

const portOf = (server: HttpServer.HttpServer) => server.address._tag === "TcpAddress" ? server.address.port : 0

const urlOf = (server: HttpServer.HttpServer): string => {
  const address = server.address
  if (address._tag === "UnixAddress") return `unix:${address.path}`
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname
  return `http://${host}:${address.port}`
}

/**
 * Where the server listens, `http://host:port` without a trailing slash
 * (an IPv6 host in brackets): useful with port 0.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const url: Effect.Effect<string, never, HttpServer.HttpServer> = Effect.map(HttpServer.HttpServer, urlOf)
