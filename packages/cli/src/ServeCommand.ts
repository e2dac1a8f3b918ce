/**
 * `/heartbeat` and `/metrics` over HTTP, two ways:
 *
 * - `layer(options)`, in your own worker process, next to its supervisor: the
 *   heartbeat then shows the worker's own circuit breakers and job queue, and
 *   `/metrics` every Bulwark metric the worker records.
 * - `bulwark serve`, a process of its own beside a running worker: it opens
 *   the worker's store (`--store`), so the heartbeat shows the queue by state
 *   and `/metrics` the jobs-by-state gauge. Breakers live in the worker's
 *   memory, so this process has none: embed the layer to see them.
 *
 * Both bind 127.0.0.1 unless told otherwise: the reset route changes a
 * breaker, which is nothing to expose to a network by default.
 *
 * @since 0.1.0
 */
import type * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as CoreCircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as Heartbeat from "@bulwark/telemetry/Heartbeat"
import * as Prometheus from "@bulwark/telemetry/Prometheus"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import type * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as http from "node:http"
import * as SharedOptions from "./internal/options.js"
import * as StoreUrl from "./StoreUrl.js"

/**
 * @since 0.1.0
 * @category Options
 */
export interface ServeOptions {
  /** Default {@link defaultPort}; 0 for any free port (read it from {@link Serve}). */
  readonly port?: number | undefined
  /** Default `127.0.0.1`. `0.0.0.0` listens on every interface. */
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
 * @since 0.1.0
 * @category Defaults
 */
export const defaultHost = "127.0.0.1"

/**
 * Where the endpoints listen, once they do.
 *
 * @since 0.1.0
 * @category Tags
 */
export class Serve extends Context.Tag("@bulwark/cli/ServeCommand/Serve")<Serve, {
  readonly host: string
  readonly port: number
  /** `http://host:port`, without a trailing slash. */
  readonly url: string
}>() {}

/**
 * `GET /heartbeat`, `GET /breakers/:name`, `POST /breakers/:name/reset` (see
 * `Heartbeat`) and `GET /metrics` (see `Prometheus`).
 *
 * @since 0.1.0
 * @category Routers
 */
export const router = HttpRouter.concat(Heartbeat.router, Prometheus.router)

const address = Effect.map(HttpServer.HttpServer, (server) => {
  const address = server.address
  if (address._tag === "UnixAddress") return { host: "unix", port: 0, url: `unix:${address.path}` }
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname
  return { host: address.hostname, port: address.port, url: `http://${host}:${address.port}` }
})

/**
 * Serves {@link router} until the layer is released. Needs the breaker
 * registry; give it the worker's `JobSupervisor` too (in the same
 * `Layer.provide`) for the job queue in the heartbeat.
 *
 * ```ts
 * const endpoints = ServeCommand.layer({ port: 9464 }).pipe(
 *   Layer.provide(Layer.merge(breakers, supervisor))
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: ServeOptions = {}
): Layer.Layer<Serve, HttpServerError.ServeError | ConfigError.ConfigError, CircuitBreakers.CircuitBreakers> => {
  const server = NodeHttpServer.layer(() => http.createServer(), {
    port: options.port ?? defaultPort,
    host: options.host ?? defaultHost
  })
  return Layer.merge(
    HttpServer.serve(router),
    Layer.effect(Serve, address)
  ).pipe(
    Layer.provide(Prometheus.layerConfig(options.prometheus)),
    Layer.provide(server)
  )
}

/**
 * What `bulwark serve` was asked for.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ServeCommandOptions {
  readonly port: number
  readonly host: string
  readonly store: string
}

/**
 * What `bulwark serve` says at startup: its `/heartbeat` cannot see a
 * worker's breakers, and an empty `"breakers"` with status ok must not be
 * read as "every breaker is closed".
 *
 * @since 0.1.0
 * @category Running
 */
export const perProcessNote =
  `note: circuit breakers live in each worker's memory, so this process has none: /heartbeat shows ` +
  `"breakers": {} and status ok whatever a worker's breakers do; embed ServeCommand.layer in the worker to serve them`

/**
 * `bulwark serve`: opens the store (it must exist), watches it with a
 * supervisor that runs nothing and never prunes (it is the worker's store),
 * serves until interrupted.
 *
 * @since 0.1.0
 * @category Running
 */
export const run = Effect.fn("ServeCommand.run")(function*(options: ServeCommandOptions) {
  // Parsed before the span is annotated: what a user typed may hold a password, the span shows it redacted.
  const url = yield* StoreUrl.parse(options.store)
  const store = StoreUrl.redact(options.store)
  yield* Effect.annotateCurrentSpan({ port: options.port, host: options.host, store })
  const context = yield* Layer.build(
    layer(options).pipe(
      Layer.provide(Layer.merge(
        CoreCircuitBreakers.layer(),
        JobSupervisor.layer({ types: [], retention: false }).pipe(Layer.provide(StoreUrl.layerExisting(url)))
      ))
    )
  )
  const serve = Context.get(context, Serve)
  yield* Console.log(`serving ${serve.url}/heartbeat and ${serve.url}/metrics for the store ${store}`)
  yield* Console.log(perProcessNote)
  yield* Console.log("Ctrl-C to stop")
  return yield* Effect.never
}, Effect.scoped)

/**
 * `bulwark serve …`.
 *
 * @since 0.1.0
 * @category Commands
 */
export const command = Command.make(
  "serve",
  {
    port: SharedOptions.port(
      `The port to listen on (default ${defaultPort}; 0: any free port, printed at start).`,
      defaultPort
    ),
    host: Options.text("host").pipe(
      Options.withPseudoName("HOST"),
      Options.withDescription(`The address to listen on (default ${defaultHost}; 0.0.0.0 for every interface).`),
      Options.withDefault(defaultHost)
    ),
    store: SharedOptions.store
  },
  run
).pipe(
  Command.withDescription("Serve /heartbeat and /metrics of a worker's job store until Ctrl-C.")
)
