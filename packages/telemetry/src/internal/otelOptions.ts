/**
 * The OTEL_* variables of `Telemetry.layerConfig` as `Telemetry.Options`, laid
 * over the options the program gives: a variable that is set wins.
 */
import * as Config from "effect/Config"
import * as Either from "effect/Either"
import type { Options } from "../Telemetry.js"
import * as Env from "./otelEnv.js"

/** The variables, by option. */
export const keys = {
  disabled: "OTEL_SDK_DISABLED",
  serviceName: "OTEL_SERVICE_NAME",
  attributes: "OTEL_RESOURCE_ATTRIBUTES",
  endpoint: "OTEL_EXPORTER_OTLP_ENDPOINT",
  tracesEndpoint: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  metricsEndpoint: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
  headers: "OTEL_EXPORTER_OTLP_HEADERS",
  protocol: "OTEL_EXPORTER_OTLP_PROTOCOL",
  tracesProtocol: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
  metricsProtocol: "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
  traces: "OTEL_TRACES_EXPORTER",
  metrics: "OTEL_METRICS_EXPORTER",
  metricExportInterval: "OTEL_METRIC_EXPORT_INTERVAL",
  metricExportTimeout: "OTEL_METRIC_EXPORT_TIMEOUT",
  prometheusHost: "OTEL_EXPORTER_PROMETHEUS_HOST",
  prometheusPort: "OTEL_EXPORTER_PROMETHEUS_PORT"
} as const

const defined = <A extends object>(fields: A) =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<A>

/** The environment laid over `options`. */
export const read = (options: Options): Config.Config<Options> =>
  Config.map(
    Config.all({
      disabled: Env.optional(keys.disabled, Env.parseBoolean),
      serviceName: Env.optional(keys.serviceName, Either.right),
      attributes: Env.optional(keys.attributes, Env.parseAttributes),
      endpoint: Env.optional(keys.endpoint, Env.parseUrl),
      tracesEndpoint: Env.optional(keys.tracesEndpoint, Env.parseUrl),
      metricsEndpoint: Env.optional(keys.metricsEndpoint, Env.parseUrl),
      headers: Env.optional(keys.headers, Env.parseHeaders),
      protocol: Env.optional(keys.protocol, Env.parseProtocol),
      tracesProtocol: Env.optional(keys.tracesProtocol, Env.parseProtocol),
      metricsProtocol: Env.optional(keys.metricsProtocol, Env.parseProtocol),
      traces: Env.optional(keys.traces, Env.parseChoice(["otlp", "none"])),
      metrics: Env.optional(keys.metrics, Env.parseChoice(["otlp", "prometheus", "none"])),
      metricExportInterval: Env.optional(keys.metricExportInterval, Env.parseInteger(1)),
      metricExportTimeout: Env.optional(keys.metricExportTimeout, Env.parseInteger(1)),
      prometheusHost: Env.optional(keys.prometheusHost, Either.right),
      prometheusPort: Env.optional(keys.prometheusPort, Env.parseInteger(0, 65535))
    }),
    (env): Options => {
      const attributes = env.attributes === undefined
        ? options.attributes
        : { ...options.attributes, ...env.attributes }
      return {
        ...options,
        ...defined({
          disabled: env.disabled,
          // OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES, which wins over the option
          serviceName: env.serviceName ?? env.attributes?.["service.name"],
          serviceVersion: env.attributes?.["service.version"],
          attributes,
          endpoint: env.endpoint,
          tracesEndpoint: env.tracesEndpoint,
          metricsEndpoint: env.metricsEndpoint,
          headers: env.headers,
          protocol: env.protocol,
          tracesProtocol: env.tracesProtocol,
          metricsProtocol: env.metricsProtocol,
          traces: env.traces,
          metrics: env.metrics,
          metricExportInterval: env.metricExportInterval,
          metricExportTimeout: env.metricExportTimeout
        }),
        ...(env.prometheusHost === undefined && env.prometheusPort === undefined ? {} : {
          prometheus: {
            ...options.prometheus,
            ...defined({ host: env.prometheusHost, port: env.prometheusPort })
          }
        })
      }
    }
  )
