/**
 * Every Effect `Metric` of the process — Bulwark's retries, breakers,
 * limiters, bulkheads, jobs, HTTP attempts, and your own — in the Prometheus
 * text format, for a `GET /metrics`.
 *
 * The metrics are not formatted here: @effect/opentelemetry's producer reads
 * Effect's metric registry into OpenTelemetry metric data on each scrape, and
 * @opentelemetry/exporter-prometheus (a pull `MetricReader` whose own server
 * is not started) serializes it. Names and tags go through unchanged: a tag
 * becomes a label, a counter keeps its `_total`, a histogram gets its
 * `_bucket` / `_sum` / `_count` series.
 *
 * @since 0.1.0
 */
import * as Metrics from "@effect/opentelemetry/Metrics"
import * as Resource from "@effect/opentelemetry/Resource"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import * as Resources from "@opentelemetry/resources"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { listen } from "./internal/listen.js"
import * as Env from "./internal/otelEnv.js"

/**
 * @since 0.1.0
 * @category Tags
 */
export class Prometheus extends Context.Tag("@bulwark/telemetry/Prometheus")<Prometheus, Prometheus.Service>() {}

/**
 * @since 0.1.0
 * @category Models
 */
export declare namespace Prometheus {
  /**
   * @since 0.1.0
   * @category Models
   */
  export interface Service {
    /** Every metric of the process now, in the Prometheus text format (version 0.0.4). */
    readonly scrape: Effect.Effect<string>
  }
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** `service_name` of the `target_info` series. Default `unknown_service:node`. */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  /** More labels of `target_info` (dots become underscores: `deployment_environment`). */
  readonly attributes?: Readonly<Record<string, string>> | undefined
  /**
   * Whether every sample carries `otel_scope_name="@effect/opentelemetry/Metrics"`.
   * Default false: the same value on every line says nothing.
   */
  readonly scopeLabels?: boolean | undefined
  /** Whether to expose the resource as a `target_info` gauge. Default true. */
  readonly targetInfo?: boolean | undefined
}

/**
 * The content type of a scrape: the Prometheus text format, version 0.0.4.
 *
 * @since 0.1.0
 * @category Constants
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/**
 * Bridges Effect's metric registry to a Prometheus reader until the scope
 * closes.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<Prometheus.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const withoutScopeInfo = options.scopeLabels !== true
    const withoutTargetInfo = options.targetInfo === false
    const resource = Resources.resourceFromAttributes(Resource.configToAttributes({
      serviceName: options.serviceName ?? "unknown_service:node",
      ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion }),
      attributes: { ...options.attributes }
    }))
    // a pull reader: its own HTTP server is never started, `scrape` collects through it
    const reader = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo, withoutTargetInfo })
    const serializer = new PrometheusSerializer(undefined, false, undefined, withoutTargetInfo, withoutScopeInfo)
    const producer = yield* Metrics.makeProducer.pipe(Effect.provideService(Resource.Resource, resource))
    yield* Metrics.registerProducer(producer, () => reader)
    const scrape = Effect.promise(() => reader.collect()).pipe(
      Effect.tap(({ errors }) =>
        errors.length === 0
          ? Effect.void
          : Effect.logWarning("Prometheus: some metrics could not be collected", errors)
      ),
      Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics)),
      Effect.tap((text) => Effect.annotateCurrentSpan("prometheus.bytes", text.length)),
      Effect.withSpan("Prometheus.scrape")
    )
    return { scrape } satisfies Prometheus.Service
  })

/**
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}): Layer.Layer<Prometheus> => Layer.scoped(Prometheus, make(options))

/**
 * {@link layer}, with the `target_info` resource from `OTEL_SERVICE_NAME` and
 * `OTEL_RESOURCE_ATTRIBUTES` laid over `options` (a malformed list is a
 * `ConfigError` naming the variable).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (options: Options = {}): Layer.Layer<Prometheus, ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Env.resource(options), layer))

/**
 * The current scrape of the `Prometheus` in context.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const scrape: Effect.Effect<string, never, Prometheus> = Effect.flatMap(Prometheus, (p) => p.scrape)

/**
 * The answer to a scrape: 200, the text format and its content type.
 *
 * @since 0.1.0
 * @category Http
 */
export const handler: Effect.Effect<HttpServerResponse.HttpServerResponse, never, Prometheus> = Effect.map(
  scrape,
  (text) => HttpServerResponse.text(text, { contentType })
)

/**
 * `GET /metrics`, to mount beside your own routes
 * (`HttpRouter.concat(myRouter, Prometheus.router)`).
 *
 * @since 0.1.0
 * @category Http
 */
export const router: HttpRouter.HttpRouter<never, Prometheus> = HttpRouter.empty.pipe(
  HttpRouter.get("/metrics", handler)
)

/**
 * @since 0.1.0
 * @category Options
 */
export interface ServerOptions extends Options {
  /**
   * Default `127.0.0.1`: loopback only, and reachable by an IPv4 scraper
   * (`localhost` may resolve to `::1` alone). `0.0.0.0` for every interface.
   */
  readonly host?: string | undefined
  /** Default 9464 (Prometheus' registered exporter port); 0 picks a free one. */
  readonly port?: number | undefined
}

/**
 * {@link layer} and a server of its own answering `GET /metrics` (404
 * elsewhere), for a program that serves nothing else. The `HttpServer` tells
 * where it listens.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerServer = (
  options: ServerOptions = {}
): Layer.Layer<Prometheus | HttpServer.HttpServer, HttpServerError.ServeError> => {
  const host = options.host ?? "127.0.0.1"
  const ServerLive = Layer.scoped(
    HttpServer.HttpServer,
    Effect.gen(function*() {
      const server = yield* listen({ host, port: options.port ?? 9464 })
      const app = yield* HttpRouter.toHttpApp(router)
      yield* server.serve(app)
      const port = server.address._tag === "TcpAddress" ? server.address.port : 0
      yield* Effect.logInfo(`Prometheus metrics at http://${host}:${port}/metrics`)
      return server
    })
  )
  return ServerLive.pipe(Layer.provideMerge(layer(options)))
}
