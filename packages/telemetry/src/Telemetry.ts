/**
 * OpenTelemetry for a Bulwark program in one layer: the spans of every
 * `Effect.fn` / `Effect.withSpan` and every Effect `Metric` (Bulwark's
 * retries, breakers, limiters, jobs, and your own) exported over OTLP/HTTP
 * (protobuf by default, or JSON) when an endpoint is set, and nothing at all
 * when none is: no SDK, no exporter, no timer, the program's tracer left as
 * it was.
 *
 * `layerConfig` reads the standard OTEL_* variables (see {@link configKeys});
 * `layer` takes the same settings as options and reads nothing;
 * `layerSpans` sends spans to an exporter you hold, for tests.
 *
 * @since 0.1.0
 */
import * as Metrics from "@effect/opentelemetry/Metrics"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as Resource from "@effect/opentelemetry/Resource"
import * as Tracer from "@effect/opentelemetry/Tracer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import { PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import type { SpanExporter } from "@opentelemetry/sdk-trace-base"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Env from "./internal/otelEnv.js"
import * as OtelOptions from "./internal/otelOptions.js"
import * as Exporters from "./internal/otlpExporters.js"
import * as Prometheus from "./Prometheus.js"

/**
 * Every setting, with its variable and default. Everything is optional: with
 * no endpoint, nothing is exported.
 *
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** `OTEL_SDK_DISABLED`: turns everything off, endpoints or not. Default false. */
  readonly disabled?: boolean | undefined
  /** `OTEL_SERVICE_NAME`. Default: `service.name` of `attributes`, else `unknown_service:node`. */
  readonly serviceName?: string | undefined
  /** The resource's `service.version`. Default: `service.version` of `attributes`, if any. */
  readonly serviceVersion?: string | undefined
  /** `OTEL_RESOURCE_ATTRIBUTES`: more resource attributes (`deployment.environment`, ...). */
  readonly attributes?: Readonly<Record<string, string>> | undefined
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: base URL; `v1/traces` and `v1/metrics` are appended. */
  readonly endpoint?: string | undefined
  /** `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the traces URL, used as is. Wins over `endpoint`. */
  readonly tracesEndpoint?: string | undefined
  /** `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`: the metrics URL, used as is. Wins over `endpoint`. */
  readonly metricsEndpoint?: string | undefined
  /**
   * `OTEL_EXPORTER_OTLP_PROTOCOL`: `"http/protobuf"` (the default, as in the
   * specification) or `"http/json"`. There is no gRPC exporter.
   */
  readonly protocol?: Protocol | undefined
  /** `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`: the traces' protocol. Wins over `protocol`. */
  readonly tracesProtocol?: Protocol | undefined
  /** `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`: the metrics' protocol. Wins over `protocol`. */
  readonly metricsProtocol?: Protocol | undefined
  /** `OTEL_EXPORTER_OTLP_HEADERS`: sent with every export (an API key, say). */
  readonly headers?: Readonly<Record<string, string>> | Redacted.Redacted<Readonly<Record<string, string>>> | undefined
  /** `OTEL_TRACES_EXPORTER`. Default `"otlp"` (which exports only when an endpoint is set). */
  readonly traces?: "otlp" | "none" | undefined
  /**
   * `OTEL_METRICS_EXPORTER`. Default `"otlp"` (only with an endpoint);
   * `"prometheus"` serves `/metrics` on `prometheus.host:port` instead.
   */
  readonly metrics?: "otlp" | "prometheus" | "none" | undefined
  /** `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds): time between two OTLP metric exports. Default 60 s. */
  readonly metricExportInterval?: Duration.DurationInput | undefined
  /** `OTEL_METRIC_EXPORT_TIMEOUT` (milliseconds): bound on one export, at most the interval. Default 30 s. */
  readonly metricExportTimeout?: Duration.DurationInput | undefined
  /** `OTEL_EXPORTER_PROMETHEUS_HOST` / `_PORT`, for `metrics: "prometheus"`. Default `127.0.0.1:9464`. */
  readonly prometheus?: {
    readonly host?: string | undefined
    readonly port?: number | undefined
  } | undefined
  /** How long closing the layer may take to flush what is buffered. Default 3 s. */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
}

/**
 * The encodings of OTLP over HTTP: binary protobuf (`application/x-protobuf`,
 * the specification's default) or JSON (`application/json`).
 *
 * @since 0.1.0
 * @category Models
 */
export type Protocol = Exporters.Protocol

/**
 * Where spans or metrics go over OTLP/HTTP, and how they are encoded.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Otlp {
  readonly _tag: "Otlp"
  readonly url: string
  readonly protocol: Protocol
  readonly headers: Redacted.Redacted<Readonly<Record<string, string>>>
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface OtlpMetrics extends Otlp {
  readonly interval: Duration.Duration
  readonly timeout: Duration.Duration
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface PrometheusPull {
  readonly _tag: "Prometheus"
  readonly host: string
  readonly port: number
}

/**
 * What a layer built from these options exports: `undefined` is off.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Settings {
  readonly resource: {
    readonly serviceName: string
    readonly serviceVersion?: string
    readonly attributes: Readonly<Record<string, string>>
  }
  readonly traces: Otlp | undefined
  readonly metrics: OtlpMetrics | PrometheusPull | undefined
  readonly shutdownTimeout: Duration.Duration
}

/**
 * A telemetry option that makes no sense, named with its value (never a
 * header's) and what was expected.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidTelemetry extends Schema.TaggedError<InvalidTelemetry>()("InvalidTelemetry", {
  option: Schema.String,
  value: Schema.String,
  expected: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `invalid telemetry option ${this.option} = ${this.value}: expected ${this.expected}`
  }
}

/**
 * The defaults of the options that have one.
 *
 * @since 0.1.0
 * @category Options
 */
export const defaults = {
  serviceName: "unknown_service:node",
  protocol: "http/protobuf",
  metricExportInterval: Duration.seconds(60),
  metricExportTimeout: Duration.seconds(30),
  // not the specification's `localhost`, which may resolve to ::1 alone and so be out of reach of an IPv4 scraper
  prometheus: { host: "127.0.0.1", port: 9464 },
  shutdownTimeout: Duration.seconds(3)
} as const

const refuse = (option: string, value: unknown, expected: string) =>
  Either.left(new InvalidTelemetry({ option, value: String(value), expected }))

const url = (option: string, value: string | undefined): Either.Either<string | undefined, InvalidTelemetry> =>
  value === undefined
    ? Either.right(undefined)
    : Either.mapLeft(Env.parseUrl(value), () => new InvalidTelemetry({ option, value, expected: "an http(s) URL" }))

const duration = (
  option: string,
  value: Duration.DurationInput | undefined,
  fallback: Duration.Duration,
  positive: boolean
): Either.Either<Duration.Duration, InvalidTelemetry> => {
  if (value === undefined) return Either.right(fallback)
  const decoded = Duration.decodeUnknown(value)
  return decoded._tag === "Some" && Duration.isFinite(decoded.value) &&
      (positive ? Duration.toMillis(decoded.value) > 0 : Duration.toMillis(decoded.value) >= 0)
    ? Either.right(decoded.value)
    : refuse(option, value, positive ? "a finite duration > 0" : "a finite duration ≥ 0")
}

const protocol = (option: string, value: Protocol | undefined): Either.Either<Protocol | undefined, InvalidTelemetry> =>
  value === undefined || (Env.protocols as ReadonlyArray<string>).includes(value)
    ? Either.right(value)
    : refuse(option, value, Env.protocols.join(" or "))

/** `base` + `v1/<signal>`, the way the specification joins OTEL_EXPORTER_OTLP_ENDPOINT. */
const signalUrl = (base: string, signal: "traces" | "metrics") =>
  `${base.endsWith("/") ? base : `${base}/`}v1/${signal}`

/**
 * Checks the options and works out what would be exported, without building
 * anything (a CLI can print it).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const settings = (options: Options = {}): Either.Either<Settings, InvalidTelemetry> =>
  Either.gen(function*() {
    const attributes = { ...options.attributes }
    const serviceName = options.serviceName ?? attributes["service.name"] ?? defaults.serviceName
    if (serviceName.trim() === "") return yield* refuse("serviceName", `"${serviceName}"`, "a non-empty name")
    const serviceVersion = options.serviceVersion ?? attributes["service.version"]
    const endpoint = yield* url("endpoint", options.endpoint)
    const tracesEndpoint = yield* url("tracesEndpoint", options.tracesEndpoint)
    const metricsEndpoint = yield* url("metricsEndpoint", options.metricsEndpoint)
    const anyProtocol = (yield* protocol("protocol", options.protocol)) ?? defaults.protocol
    const tracesProtocol = (yield* protocol("tracesProtocol", options.tracesProtocol)) ?? anyProtocol
    const metricsProtocol = (yield* protocol("metricsProtocol", options.metricsProtocol)) ?? anyProtocol
    const interval = yield* duration(
      "metricExportInterval",
      options.metricExportInterval,
      defaults.metricExportInterval,
      true
    )
    const timeout = yield* duration(
      "metricExportTimeout",
      options.metricExportTimeout,
      defaults.metricExportTimeout,
      true
    )
    const shutdownTimeout = yield* duration("shutdownTimeout", options.shutdownTimeout, defaults.shutdownTimeout, false)
    const host = options.prometheus?.host ?? defaults.prometheus.host
    if (host.trim() === "") return yield* refuse("prometheus.host", `"${host}"`, "a host name or address")
    const port = options.prometheus?.port ?? defaults.prometheus.port
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return yield* refuse("prometheus.port", port, "a whole number in [0, 65535]")
    }
    const headers = options.headers === undefined
      ? Redacted.make({})
      : Redacted.isRedacted(options.headers)
      ? options.headers
      : Redacted.make({ ...options.headers })
    const on = options.disabled !== true
    const tracesUrl = tracesEndpoint ?? (endpoint && signalUrl(endpoint, "traces"))
    const metricsUrl = metricsEndpoint ?? (endpoint && signalUrl(endpoint, "metrics"))
    const metrics = options.metrics ?? "otlp"
    return {
      resource: { serviceName, ...(serviceVersion === undefined ? {} : { serviceVersion }), attributes },
      traces: on && (options.traces ?? "otlp") === "otlp" && tracesUrl !== undefined
        ? { _tag: "Otlp", url: tracesUrl, protocol: tracesProtocol, headers }
        : undefined,
      metrics: !on || metrics === "none"
        ? undefined
        : metrics === "prometheus"
        ? { _tag: "Prometheus", host, port }
        : metricsUrl === undefined
        ? undefined
        // the SDK refuses a timeout longer than the interval; a short interval is what the user asked for
        : {
          _tag: "Otlp",
          url: metricsUrl,
          protocol: metricsProtocol,
          headers,
          interval,
          timeout: Duration.min(timeout, interval)
        },
      shutdownTimeout
    } satisfies Settings
  })

/** The endpoint for a log line: no user info, no query (either may hold a key). */
const shown = (url: string) => {
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname}`
}

const announce = (settings: Settings) =>
  Layer.effectDiscard(
    Effect.logInfo(
      `Telemetry: traces ${
        settings.traces ? `→ ${shown(settings.traces.url)} (${settings.traces.protocol})` : "off"
      }, metrics ${
        settings.metrics === undefined
          ? "off"
          : settings.metrics._tag === "Otlp"
          ? `→ ${shown(settings.metrics.url)} (${settings.metrics.protocol}) every ${
            Duration.format(settings.metrics.interval)
          }`
          : `for Prometheus on ${settings.metrics.host}`
      }`
    ).pipe(Effect.annotateLogs({ "service.name": settings.resource.serviceName }))
  )

/**
 * The layer of resolved settings: what `layer` and `layerConfig` build.
 * Nothing is constructed when neither signal is on.
 *
 * @since 0.1.0
 * @category Layers
 */
export const fromSettings = (settings: Settings): Layer.Layer<never, HttpServerError.ServeError> => {
  if (settings.traces === undefined && settings.metrics === undefined) return Layer.empty
  const shutdownTimeout = settings.shutdownTimeout
  const traces = settings.traces
  const metrics = settings.metrics
  // NodeSdk.layer would read OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES again, leniently and even
  // for the explicit `layer`: the resource is built here from the checked settings instead.
  // The exporters log their failures through the runtime the layer is built in: the program's logger.
  const TracesLive = traces === undefined ? Layer.empty : Layer.provide(
    Tracer.layer,
    Layer.unwrapEffect(Effect.map(Effect.runtime<never>(), (runtime) =>
      NodeSdk.layerTracerProvider(
        new BatchSpanProcessor(Exporters.traces({ ...traces, shownUrl: shown(traces.url) }, runtime)),
        { shutdownTimeout }
      )))
  )
  const MetricsLive = metrics === undefined
    ? Layer.empty
    : metrics._tag === "Prometheus"
    ? Layer.discard(Prometheus.layerServer({ ...settings.resource, host: metrics.host, port: metrics.port }))
    : Layer.unwrapEffect(
      Effect.map(Effect.runtime<never>(), (runtime) =>
        Metrics.layer(() =>
          new PeriodicExportingMetricReader({
            exporter: Exporters.metrics({ ...metrics, shownUrl: shown(metrics.url) }, runtime),
            exportIntervalMillis: Duration.toMillis(metrics.interval),
            exportTimeoutMillis: Duration.toMillis(metrics.timeout)
          }), { shutdownTimeout }))
    )
  return Layer.mergeAll(TracesLive, MetricsLive, announce(settings)).pipe(
    Layer.provide(Resource.layer(settings.resource))
  )
}

/**
 * Telemetry from explicit options; reads no environment variable of its own
 * (the OTLP exporters still take what the options leave out, such as
 * certificates or compression, from `OTEL_EXPORTER_OTLP_*`).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}): Layer.Layer<never, InvalidTelemetry | HttpServerError.ServeError> =>
  Layer.unwrapEffect(Effect.map(settings(options), fromSettings))

/**
 * The variables {@link layerConfig} reads, by option.
 *
 * @since 0.1.0
 * @category Config
 */
export const configKeys = OtelOptions.keys

/**
 * The options from the environment, laid over `options`: a variable that is
 * set (and not empty) wins. A bad value fails with a `ConfigError` naming the
 * variable.
 *
 * @since 0.1.0
 * @category Config
 */
export const config = (options: Options = {}): Config.Config<Options> => OtelOptions.read(options)

/**
 * Telemetry from the standard OTEL_* environment (see {@link configKeys}),
 * laid over `options`: traces and metrics over OTLP/HTTP when an endpoint is
 * set, nothing when not. A protocol of `grpc` is refused (a `ConfigError`
 * naming the variable), not silently sent as protobuf over HTTP.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  options: Options = {}
): Layer.Layer<never, ConfigError.ConfigError | InvalidTelemetry | HttpServerError.ServeError> =>
  Layer.unwrapEffect(Effect.map(config(options), layer))

/**
 * Spans go to `exporter` as each one ends (a `SimpleSpanProcessor`): for
 * tests, with an `InMemorySpanExporter`. The exporter stays yours: closing the
 * layer flushes it but does not shut it down, so its spans can still be read
 * after the program is over. No metrics, no environment.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerSpans = (
  exporter: SpanExporter,
  options: { readonly serviceName?: string | undefined } = {}
): Layer.Layer<never> => {
  const flush = () => exporter.forceFlush?.() ?? Promise.resolve()
  const kept: SpanExporter = {
    export: (spans, done) => exporter.export(spans, done),
    forceFlush: flush,
    shutdown: flush
  }
  return Layer.provide(
    Tracer.layer,
    Layer.suspend(() => NodeSdk.layerTracerProvider(new SimpleSpanProcessor(kept)))
  ).pipe(Layer.provide(Resource.layer({ serviceName: options.serviceName ?? "bulwark-test" })))
}
