import * as Errors from "@bulwark/core/Errors"
import * as Retry from "@bulwark/core/Retry"
import { FetchHttpClient, HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import {
  ConfigProvider,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Logger,
  Metric,
  Redacted,
  Ref,
  Schedule,
  TestClock
} from "effect"
import * as Telemetry from "../src/Telemetry.js"
import { attributes, receiver } from "./utils/otlpReceiver.js"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const readConfig = (env: Record<string, string>, options: Telemetry.Options = {}) =>
  Telemetry.config(options).pipe(withEnv(env))

const settingsOf = (options: Telemetry.Options) => Either.getOrThrow(Telemetry.settings(options))

describe("Telemetry.config", () => {
  it.effect("reads every variable", () =>
    Effect.gen(function*() {
      const options = yield* readConfig({
        OTEL_SDK_DISABLED: "FALSE",
        OTEL_SERVICE_NAME: "fanfare",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=staging, team=audio%20%26%20gpu,service.version=1.2.3",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example/v1/traces",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "https://metrics.example/ingest",
        OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20s3cret,x-tenant=42",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/protobuf",
        OTEL_TRACES_EXPORTER: "otlp",
        OTEL_METRICS_EXPORTER: "OTLP",
        OTEL_METRIC_EXPORT_INTERVAL: "10000",
        OTEL_METRIC_EXPORT_TIMEOUT: "5000",
        OTEL_EXPORTER_PROMETHEUS_HOST: "0.0.0.0",
        OTEL_EXPORTER_PROMETHEUS_PORT: "9100"
      })
      expect({ ...options, headers: undefined }).toEqual({
        disabled: false,
        serviceName: "fanfare",
        serviceVersion: "1.2.3",
        attributes: { "deployment.environment": "staging", team: "audio & gpu", "service.version": "1.2.3" },
        endpoint: "http://collector:4318/",
        tracesEndpoint: "https://traces.example/v1/traces",
        metricsEndpoint: "https://metrics.example/ingest",
        headers: undefined,
        protocol: "http/json",
        metricsProtocol: "http/protobuf",
        traces: "otlp",
        metrics: "otlp",
        metricExportInterval: 10000,
        metricExportTimeout: 5000,
        prometheus: { host: "0.0.0.0", port: 9100 }
      })
      expect(Redacted.isRedacted(options.headers)).toBe(true)
      const settings = settingsOf(options)
      expect(settings.traces?.url).toBe("https://traces.example/v1/traces")
      expect([settings.traces?.protocol, settings.metrics?._tag === "Otlp" && settings.metrics.protocol]).toEqual([
        "http/json",
        "http/protobuf"
      ])
      expect(Redacted.value(settings.traces!.headers)).toEqual({ authorization: "Bearer s3cret", "x-tenant": "42" })
      expect(settings.metrics).toMatchObject({ _tag: "Otlp", url: "https://metrics.example/ingest" })
      expect(settings.metrics?._tag === "Otlp" && Duration.toMillis(settings.metrics.interval)).toBe(10000)
      expect(settings.metrics?._tag === "Otlp" && Duration.toMillis(settings.metrics.timeout)).toBe(5000)
      expect(settings.resource).toEqual({
        serviceName: "fanfare",
        serviceVersion: "1.2.3",
        attributes: { "deployment.environment": "staging", team: "audio & gpu", "service.version": "1.2.3" }
      })
    }))

  it.effect("keeps the options where no variable is set, and an empty variable counts as unset", () =>
    Effect.gen(function*() {
      const given: Telemetry.Options = {
        serviceName: "demo",
        attributes: { team: "core" },
        endpoint: "http://127.0.0.1:4318",
        metricExportInterval: "5 seconds"
      }
      expect(yield* readConfig({}, given)).toEqual(given)
      expect(yield* readConfig({ OTEL_SERVICE_NAME: " ", OTEL_EXPORTER_OTLP_ENDPOINT: "" }, given)).toEqual(given)
    }))

  it.effect("a set variable wins: OTEL_SERVICE_NAME, then service.name in OTEL_RESOURCE_ATTRIBUTES, then the option", () =>
    Effect.gen(function*() {
      const given = { serviceName: "option", attributes: { team: "core", region: "eu" } }
      const fromAttributes = yield* readConfig({ OTEL_RESOURCE_ATTRIBUTES: "service.name=attr,team=gpu" }, given)
      expect(fromAttributes.serviceName).toBe("attr")
      expect(fromAttributes.attributes).toEqual({ team: "gpu", region: "eu", "service.name": "attr" })
      const fromName = yield* readConfig({
        OTEL_SERVICE_NAME: "name",
        OTEL_RESOURCE_ATTRIBUTES: "service.name=attr"
      }, given)
      expect(fromName.serviceName).toBe("name")
      expect(settingsOf(fromName).resource.serviceName).toBe("name")
    }))

  const invalid: ReadonlyArray<readonly [string, string, string]> = [
    ["OTEL_SDK_DISABLED", "yes", "Expected true or false"],
    ["OTEL_RESOURCE_ATTRIBUTES", "team", "has no \"=\""],
    ["OTEL_RESOURCE_ATTRIBUTES", "=gpu", "an empty key"],
    ["OTEL_RESOURCE_ATTRIBUTES", "my team=gpu", "not a token"],
    ["OTEL_RESOURCE_ATTRIBUTES", "team=100%", "malformed percent-escape"],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "an http(s) URL"],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "not a url", "an http(s) URL"],
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://collector/v1/traces", "an http(s) URL"],
    ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "//collector/v1/metrics", "an http(s) URL"],
    ["OTEL_EXPORTER_OTLP_HEADERS", "authorization", "has no \"=\""],
    ["OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "no gRPC exporter"],
    ["OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml", "Expected http/protobuf or http/json"],
    ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc", "no gRPC exporter"],
    ["OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc", "no gRPC exporter"],
    ["OTEL_TRACES_EXPORTER", "zipkin", "Expected one of otlp, none"],
    ["OTEL_TRACES_EXPORTER", "otlp,console", "Expected one of otlp, none"],
    ["OTEL_METRICS_EXPORTER", "console", "Expected one of otlp, prometheus, none"],
    ["OTEL_METRIC_EXPORT_INTERVAL", "0", "whole number in [1,"],
    ["OTEL_METRIC_EXPORT_INTERVAL", "60s", "whole number in [1,"],
    ["OTEL_METRIC_EXPORT_INTERVAL", "1.5", "whole number in [1,"],
    ["OTEL_METRIC_EXPORT_TIMEOUT", "-5", "whole number in [1,"],
    ["OTEL_EXPORTER_PROMETHEUS_PORT", "70000", "whole number in [0, 65535]"]
  ]

  for (const [variable, value, expected] of invalid) {
    it.effect(`refuses ${variable}=${value} with a ConfigError naming the variable`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(readConfig({ [variable]: value }))
        expect(error._op).toBe("InvalidData")
        expect(error.toString()).toContain(variable)
        expect(error.toString()).toContain(expected)
        // and the layer does not build
        const exit = yield* Effect.exit(
          Layer.build(Telemetry.layerConfig()).pipe(withEnv({ [variable]: value }), Effect.scoped)
        )
        expect(Exit.isFailure(exit)).toBe(true)
      }))
  }

  it.effect("never shows a header's value in an error", () =>
    Effect.gen(function*() {
      for (const value of ["authorization=Bearer s3cret%zz", "x=1,authorization"]) {
        const error = yield* Effect.flip(readConfig({ OTEL_EXPORTER_OTLP_HEADERS: value }))
        expect(error.toString()).toContain("OTEL_EXPORTER_OTLP_HEADERS")
        expect(error.toString()).not.toContain("s3cret")
      }
      const options = yield* readConfig({ OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer s3cret" })
      expect(String(options.headers)).not.toContain("s3cret")
    }))
})

describe("Telemetry.settings", () => {
  it("exports nothing without an endpoint, whatever else is set", () => {
    expect(settingsOf({})).toMatchObject({ traces: undefined, metrics: undefined })
    expect(settingsOf({ serviceName: "x", traces: "otlp", metrics: "otlp", headers: { a: "b" } })).toMatchObject({
      traces: undefined,
      metrics: undefined
    })
  })

  it("joins OTEL_EXPORTER_OTLP_ENDPOINT with v1/<signal>, keeping its path", () => {
    const settings = settingsOf({ endpoint: "http://collector:4318/otlp" })
    expect(settings.traces?.url).toBe("http://collector:4318/otlp/v1/traces")
    expect(settings.metrics).toMatchObject({ _tag: "Otlp", url: "http://collector:4318/otlp/v1/metrics" })
    expect(settingsOf({ endpoint: "http://collector:4318/" }).traces?.url).toBe("http://collector:4318/v1/traces")
  })

  it("turns a signal off by its exporter, and everything off when disabled", () => {
    const endpoint = "http://collector:4318"
    expect(settingsOf({ endpoint, traces: "none" })).toMatchObject({ traces: undefined, metrics: { _tag: "Otlp" } })
    expect(settingsOf({ endpoint, metrics: "none" }).metrics).toBeUndefined()
    // 127.0.0.1, not localhost: that may resolve to ::1 alone, out of an IPv4 scraper's reach
    expect(settingsOf({ endpoint, metrics: "prometheus" }).metrics).toEqual({
      _tag: "Prometheus",
      host: "127.0.0.1",
      port: 9464
    })
    expect(settingsOf({ endpoint, metrics: "prometheus", disabled: true })).toMatchObject({
      traces: undefined,
      metrics: undefined
    })
  })

  it("uses the defaults: unknown_service:node, 60 s interval, 30 s timeout, clamped to the interval", () => {
    const settings = settingsOf({ endpoint: "http://collector:4318" })
    expect(settings.resource.serviceName).toBe("unknown_service:node")
    const metrics = settings.metrics?._tag === "Otlp" ? settings.metrics : undefined
    expect(metrics && [Duration.toMillis(metrics.interval), Duration.toMillis(metrics.timeout)]).toEqual([60000, 30000])
    const short = settingsOf({ endpoint: "http://collector:4318", metricExportInterval: 1000 }).metrics
    expect(short?._tag === "Otlp" && Duration.toMillis(short.timeout)).toBe(1000)
  })

  it("sends http/protobuf unless told otherwise, per signal or for both", () => {
    const endpoint = "http://collector:4318"
    const protocols = (options: Telemetry.Options) => {
      const settings = settingsOf({ endpoint, ...options })
      return [settings.traces?.protocol, settings.metrics?._tag === "Otlp" ? settings.metrics.protocol : undefined]
    }
    expect(protocols({})).toEqual(["http/protobuf", "http/protobuf"])
    expect(protocols({ protocol: "http/json" })).toEqual(["http/json", "http/json"])
    expect(protocols({ protocol: "http/json", metricsProtocol: "http/protobuf" })).toEqual([
      "http/json",
      "http/protobuf"
    ])
    expect(protocols({ tracesProtocol: "http/json" })).toEqual(["http/json", "http/protobuf"])
  })

  it("refuses a bad option with InvalidTelemetry naming it", () => {
    const refused = (options: Telemetry.Options) => Either.flip(Telemetry.settings(options)).pipe(Either.getOrThrow)
    expect(refused({ endpoint: "collector:4318" }).message).toBe(
      "invalid telemetry option endpoint = collector:4318: expected an http(s) URL"
    )
    expect(refused({ tracesEndpoint: "nope" }).option).toBe("tracesEndpoint")
    expect(refused({ metricsEndpoint: "nope" }).option).toBe("metricsEndpoint")
    expect(refused({ metricExportInterval: 0 }).option).toBe("metricExportInterval")
    expect(refused({ metricExportTimeout: "forever" as Duration.DurationInput }).option).toBe("metricExportTimeout")
    expect(refused({ shutdownTimeout: Duration.infinity }).option).toBe("shutdownTimeout")
    expect(refused({ serviceName: "" }).option).toBe("serviceName")
    expect(refused({ prometheus: { port: 70000 } }).option).toBe("prometheus.port")
    expect(refused({ prometheus: { host: "" } }).option).toBe("prometheus.host")
    expect(refused({ protocol: "grpc" as Telemetry.Protocol }).message).toBe(
      "invalid telemetry option protocol = grpc: expected http/protobuf or http/json"
    )
    expect(refused({ metricsProtocol: "http" as Telemetry.Protocol }).option).toBe("metricsProtocol")
  })
})

describe("Telemetry.layerConfig", () => {
  it.effect("without an endpoint builds nothing: the program's tracer stays Effect's own", () =>
    Effect.gen(function*() {
      const before = yield* Effect.tracer
      const quiet = yield* Effect.tracer.pipe(
        Effect.provide(Telemetry.layerConfig({ serviceName: "quiet" })),
        withEnv({})
      )
      expect(quiet).toBe(before)
      const disabled = yield* Effect.tracer.pipe(
        Effect.provide(Telemetry.layerConfig()),
        withEnv({ OTEL_SDK_DISABLED: "true", OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" })
      )
      expect(disabled).toBe(before)
      // with an endpoint, another tracer is installed: the contrast that gives the checks above a meaning
      const on = yield* Effect.tracer.pipe(
        Effect.provide(Telemetry.layer({ tracesEndpoint: "http://127.0.0.1:9/v1/traces", shutdownTimeout: 0 }))
      )
      expect(on).not.toBe(before)
    }))

  const protobuf = "application/x-protobuf"
  const json = "application/json"
  const encodings: ReadonlyArray<{
    readonly name: string
    readonly env: Record<string, string>
    readonly traces: string
    readonly metrics: string
  }> = [
    { name: "by default (http/protobuf, the specification's default)", env: {}, traces: protobuf, metrics: protobuf },
    {
      name: "with http/protobuf",
      env: { OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" },
      traces: protobuf,
      metrics: protobuf
    },
    { name: "with http/json", env: { OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }, traces: json, metrics: json },
    {
      name: "with a protocol per signal",
      env: { OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/protobuf" },
      traces: protobuf,
      metrics: json
    }
  ]

  for (const [index, encoding] of encodings.entries()) {
    it.live(`exports spans and metrics to an OTLP/HTTP receiver ${encoding.name}, with the headers and the resource`, () =>
      Effect.gen(function*() {
        const otlp = yield* receiver()
        // a counter per case: the registry is the process's, so a shared one would carry over
        const name = `telemetry_test_exports_${index}_total`
        const counter = Metric.counter(name, { description: "test", incremental: true })
        yield* Effect.gen(function*() {
          yield* Metric.increment(Metric.tagged(counter, "service", "loopback"))
          yield* Effect.annotateCurrentSpan("client_job_id", "job-1")
        }).pipe(
          Effect.withSpan("Loopback.work"),
          Effect.provide(Telemetry.layerConfig()),
          withEnv({
            OTEL_SERVICE_NAME: "loopback",
            OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test",
            OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
            OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20s3cret",
            OTEL_METRIC_EXPORT_INTERVAL: "60000",
            ...encoding.env
          })
        )
        // closing the layer flushed both signals (the metric interval is far away)
        const received = yield* otlp.received
        const traces = received.filter((r) => r.path === "/v1/traces")
        const metrics = received.filter((r) => r.path === "/v1/metrics")
        expect(traces.length).toBeGreaterThanOrEqual(1)
        expect(metrics.length).toBeGreaterThanOrEqual(1)
        for (const r of received) expect(r.headers["authorization"]).toBe("Bearer s3cret")
        expect(traces.map((r) => r.contentType)).toEqual(traces.map(() => encoding.traces))
        expect(metrics.map((r) => r.contentType)).toEqual(metrics.map(() => encoding.metrics))
        const resourceSpans = traces[0]!.body.resourceSpans[0]
        expect(attributes(resourceSpans.resource.attributes)).toMatchObject({
          "service.name": "loopback",
          "deployment.environment": "test"
        })
        const span = resourceSpans.scopeSpans.flatMap((s: any) => s.spans).find((s: any) => s.name === "Loopback.work")
        expect(attributes(span.attributes)).toMatchObject({ client_job_id: "job-1" })
        const exported = metrics.flatMap((r) =>
          r.body.resourceMetrics.flatMap((rm: any) => rm.scopeMetrics.flatMap((sm: any) => sm.metrics))
        )
        expect(attributes(metrics[0]!.body.resourceMetrics[0].resource.attributes)).toMatchObject({
          "service.name": "loopback"
        })
        const sent = exported.find((m: any) => m.name === name)
        expect(sent.sum.isMonotonic).toBe(true)
        expect(sent.sum.dataPoints.map((p: any) => [attributes(p.attributes), p.asDouble])).toContainEqual([
          { service: "loopback" },
          1
        ])
      }).pipe(Effect.scoped, Effect.timeout("10 seconds")))
  }

  it.live("logs a failed export at WARN once per run of failures, and at INFO the export that works again", () =>
    Effect.gen(function*() {
      const logs = yield* Ref.make<ReadonlyArray<{ level: string; message: string; annotations: unknown }>>([])
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ annotations, logLevel, message }) =>
          Effect.runSync(Ref.update(logs, (all) => [...all, {
            level: logLevel.label,
            message: String(message),
            annotations: Object.fromEntries(annotations)
          }]))
        )
      )
      // 400: an error the exporters do not retry, so each export fails at once
      const traces = yield* receiver({ status: 400 })
      const metrics = yield* receiver({ status: 400 })
      const exportsTo = (otlp: typeof metrics, status: number) =>
        Effect.map(otlp.received, (all) => all.filter((r) => r.status === status).length)
      const until = (count: Effect.Effect<number>, n: number) =>
        Effect.repeat(count, { until: (seen) => seen >= n, schedule: Schedule.spaced("10 millis") })
      yield* Effect.gen(function*() {
        yield* Metric.increment(Metric.counter("telemetry_test_failing_total", { incremental: true }))
        yield* Effect.void.pipe(Effect.withSpan("Failing.work"))
        yield* until(exportsTo(metrics, 400), 3)
        yield* metrics.setStatus(200)
        yield* until(exportsTo(metrics, 200), 2)
      }).pipe(
        Effect.provide(Telemetry.layer({
          tracesEndpoint: `${traces.url}/v1/traces`,
          metricsEndpoint: `${metrics.url}/v1/metrics`,
          metricExportInterval: "20 millis"
        })),
        Effect.provide(capture)
      )
      const failed = yield* exportsTo(metrics, 400)
      // the span went out once, at close, and failed too
      expect(yield* exportsTo(traces, 400)).toBe(1)
      const lines = (yield* Ref.get(logs)).filter((line) => line.message.includes(" export to "))
      const metricsUrl = `${metrics.url}/v1/metrics`
      const tracesUrl = `${traces.url}/v1/traces`
      const warning = (url: string, signal: string) => ({
        level: "WARN",
        message: `Telemetry: ${signal} export to ${url} failed: Bad Request` +
          " (further failures are not logged until an export succeeds)",
        annotations: { signal, url, protocol: "http/protobuf" }
      })
      expect(lines).toEqual([
        warning(metricsUrl, "metrics"),
        {
          level: "INFO",
          message: `Telemetry: metrics export to ${metricsUrl} works again, after ${failed} failed exports`,
          annotations: { signal: "metrics", url: metricsUrl, protocol: "http/protobuf" }
        },
        warning(tracesUrl, "traces")
      ])
    }).pipe(Effect.scoped, Effect.timeout("10 seconds")))

  it.live("exports metrics every OTEL_METRIC_EXPORT_INTERVAL while the program runs", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver()
      yield* Effect.gen(function*() {
        yield* Metric.increment(Metric.counter("telemetry_test_interval_total", { incremental: true }))
        // two exports or more while running, before the one at shutdown
        yield* otlp.received.pipe(
          Effect.map((all) => all.filter((r) => r.path === "/v1/metrics").length),
          Effect.repeat({ until: (n) => n >= 2, schedule: Schedule.spaced("20 millis") })
        )
      }).pipe(
        Effect.provide(Telemetry.layerConfig()),
        withEnv({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${otlp.url}/v1/metrics`, OTEL_METRIC_EXPORT_INTERVAL: "50" })
      )
      expect((yield* otlp.received).every((r) => r.path === "/v1/metrics")).toBe(true)
    }).pipe(Effect.scoped, Effect.timeout("10 seconds")))

  it.live("OTEL_METRICS_EXPORTER=prometheus serves /metrics on OTEL_EXPORTER_PROMETHEUS_HOST:PORT", () =>
    Effect.gen(function*() {
      const logs = yield* Ref.make<ReadonlyArray<string>>([])
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => Effect.runSync(Ref.update(logs, (all) => [...all, String(message)])))
      )
      const text = yield* Effect.gen(function*() {
        yield* Metric.increment(Metric.counter("telemetry_test_pull_total", { incremental: true }))
        const url = (yield* Ref.get(logs)).map((line) => /^Prometheus metrics at (\S+)$/.exec(line)?.[1]).find(Boolean)
        const response = yield* HttpClient.get(url!)
        expect(response.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8")
        return yield* response.text
      }).pipe(
        Effect.provide(Telemetry.layerConfig()),
        withEnv({
          OTEL_METRICS_EXPORTER: "prometheus",
          OTEL_EXPORTER_PROMETHEUS_HOST: "127.0.0.1",
          OTEL_EXPORTER_PROMETHEUS_PORT: "0"
        }),
        Effect.provide(capture)
      )
      expect(text).toContain("telemetry_test_pull_total 1\n")
      expect((yield* Ref.get(logs)).join("\n")).toContain("Telemetry: traces off, metrics for Prometheus on 127.0.0.1")
    }).pipe(Effect.provide(FetchHttpClient.layer), Effect.timeout("10 seconds")))
})

describe("Telemetry.layerSpans", () => {
  it.effect("hands every span to the exporter as it ends, retry events included, and keeps them after close", () =>
    Effect.gen(function*() {
      const exporter = new InMemorySpanExporter()
      let calls = 0
      const flaky = Effect.suspend(() =>
        ++calls < 3 ? Effect.fail(new Errors.Unavailable({ service: "upstream" })) : Effect.succeed("ok")
      )
      const fiber = yield* Effect.gen(function*() {
        const policy = yield* Retry.policy({ name: "upstream", base: "1 second", jitter: "none" })
        yield* Retry.retry(flaky, policy).pipe(
          Effect.withSpan("Job.attempt", { attributes: { client_job_id: "job-7" } })
        )
      }).pipe(Effect.provide(Telemetry.layerSpans(exporter, { serviceName: "spans-test" })), Effect.fork)
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(fiber)
      expect(calls).toBe(3)
      const spans = exporter.getFinishedSpans()
      const attempt = spans.find((span) => span.name === "Job.attempt")!
      expect(attempt.attributes["client_job_id"]).toBe("job-7")
      expect(attempt.events.filter((event) => event.name === "bulwark.retry")).toHaveLength(2)
      expect(attempt.resource.attributes["service.name"]).toBe("spans-test")
    }))
})
