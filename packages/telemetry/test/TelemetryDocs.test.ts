/**
 * Every ```ts block of docs/telemetry.md is a region of this file, run here as
 * a test; the last tests fail when the page and this file drift apart, or when
 * a Bulwark metric is missing from the page's table of exposed names.
 */
import * as Errors from "@bulwark/core/Errors"
import * as Retry from "@bulwark/core/Retry"
import * as JobStore from "@bulwark/jobs/JobStore"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as JobType from "@bulwark/jobs/JobType"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { FetchHttpClient, HttpClient, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import { ConfigProvider, Effect, Either, Fiber, Layer, Metric, Option, Redacted, Schema, TestClock } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import * as Prometheus from "../src/Prometheus.js"
import * as Telemetry from "../src/Telemetry.js"
import { attributes, receiver } from "./utils/otlpReceiver.js"
import { parse } from "./utils/promText.js"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

/** A program with a span and a metric: what the telemetry layers carry. */
const worker = Effect.gen(function*() {
  yield* Metric.increment(Metric.counter("docs_worker_runs_total", { incremental: true }))
  yield* Effect.annotateCurrentSpan("client_job_id", "job-1")
}).pipe(Effect.withSpan("Worker.run"))

const spanNames = (received: ReadonlyArray<{ path: string; body: any }>) =>
  received.filter((r) => r.path.endsWith("/v1/traces")).flatMap((r) =>
    r.body.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((s: any) => s.name)))
  )

describe("docs/telemetry.md", () => {
  it.live("layerConfig: the OTEL_* environment", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver()
      // #region layer-config
      // OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OTEL_SERVICE_NAME=fanfare-worker pnpm start
      const TelemetryLive = Telemetry.layerConfig({ serviceName: "bulwark-worker" })

      const main = worker.pipe(Effect.provide(TelemetryLive))
      // #endregion layer-config
      yield* main.pipe(withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_SERVICE_NAME: "fanfare-worker" }))
      const received = yield* otlp.received
      expect(spanNames(received)).toContain("Worker.run")
      const resource = received.find((r) => r.path === "/v1/traces")!.body.resourceSpans[0].resource
      expect(attributes(resource.attributes)["service.name"]).toBe("fanfare-worker")
      expect(received.some((r) => r.path === "/v1/metrics")).toBe(true)
      // without the variables: nothing at all
      yield* main.pipe(withEnv({}))
      expect(yield* otlp.received).toHaveLength(received.length)
    }).pipe(Effect.scoped, Effect.timeout("10 seconds")))

  it.live("layer: explicit options", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver()
      const collectorUrl = otlp.url
      const apiKey = "k-123"
      // #region layer
      const TelemetryLive = Telemetry.layer({
        serviceName: "fanfare-worker",
        attributes: { "deployment.environment": "staging" },
        endpoint: collectorUrl,
        headers: Redacted.make({ authorization: `Bearer ${apiKey}` }),
        metricExportInterval: "15 seconds"
      })
      // #endregion layer
      yield* worker.pipe(Effect.provide(TelemetryLive))
      const received = yield* otlp.received
      expect(spanNames(received)).toContain("Worker.run")
      expect(received.every((r) => r.headers["authorization"] === "Bearer k-123")).toBe(true)
    }).pipe(Effect.scoped, Effect.timeout("10 seconds")))

  it("settings: what would be exported", () => {
    // #region settings
    const settings = Telemetry.settings({ endpoint: "http://collector:4318", traces: "none" })
    // Right({ traces: undefined, metrics: { _tag: "Otlp", url: "http://collector:4318/v1/metrics", ... }, ... })
    // #endregion settings
    const right = Either.getOrThrow(settings)
    expect(right.traces).toBeUndefined()
    expect(right.metrics).toMatchObject({ _tag: "Otlp", url: "http://collector:4318/v1/metrics" })
  })

  it.effect("layerSpans: a job attempt's span, its retry events and its attributes, in memory", () =>
    Effect.gen(function*() {
      let calls = 0
      const orpheus = Effect.suspend(() =>
        ++calls < 3 ? Effect.fail(new Errors.Unavailable({ service: "orpheus" })) : Effect.succeed("ok")
      )
      const Compose = JobType.make({
        name: "compose",
        payload: Schema.Struct({ prompt: Schema.String }),
        result: Schema.String,
        handler: () =>
          Effect.gen(function*() {
            yield* Effect.annotateCurrentSpan("client_job_id", (yield* JobType.CurrentJob).id)
            const policy = yield* Retry.policy({ name: "orpheus", base: "1 second", jitter: "none" })
            return yield* Retry.retry(orpheus, policy).pipe(Effect.orDie)
          })
      })
      const JobsLive = JobSupervisor.layer({ types: [Compose], metricsInterval: false })
        .pipe(Layer.provide(JobStore.layerMemory))
      const fiber = yield* Effect.fork(Effect.gen(function*() {
        // #region spans
        const exporter = new InMemorySpanExporter()

        const id = yield* Effect.gen(function*() {
          const jobs = yield* JobSupervisor.JobSupervisor
          const id = yield* jobs.submit(Compose, { prompt: "a fanfare" })
          yield* jobs.wait(Compose, id)
          return id
        }).pipe(Effect.provide(JobsLive), Effect.provide(Telemetry.layerSpans(exporter)))

        // The exporter is still readable after the layer closed.
        const attempt = exporter.getFinishedSpans().find((span) => span.name === "JobSupervisor.attempt")
        const retries = attempt?.events.filter((event) => event.name === "bulwark.retry")
        // #endregion spans
        return { id, attempt, retries }
      }))
      for (let i = 0; i < 50 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust("200 millis")
      const { attempt, id, retries } = yield* Fiber.join(fiber)
      expect(attempt?.attributes).toMatchObject({ "job.id": id, client_job_id: id, "job.type": "compose" })
      expect(retries?.map((event) => event.attributes?.["attempt"])).toEqual([1, 2])
    }))

  it.live("Prometheus.router beside the program's routes", () =>
    Effect.gen(function*() {
      const metricsPort = 0
      // #region prometheus-router
      const app = HttpRouter.empty.pipe(
        HttpRouter.get("/health", HttpServerResponse.text("ok")),
        HttpRouter.concat(Prometheus.router)
      )

      const ServerLive = HttpServer.serve(app).pipe(
        Layer.provide(Prometheus.layer({ serviceName: "fanfare-worker" })),
        Layer.provideMerge(NodeHttpServer.layer(() => http.createServer(), { port: metricsPort }))
      )
      // #endregion prometheus-router
      const text = yield* Effect.gen(function*() {
        yield* Metric.increment(Metric.counter("docs_router_total", { incremental: true }))
        const server = yield* HttpServer.HttpServer
        const port = server.address._tag === "TcpAddress" ? server.address.port : 0
        const response = yield* HttpClient.get(`http://127.0.0.1:${port}/metrics`)
        return yield* response.text
      }).pipe(Effect.provide(ServerLive))
      expect(text).toContain("docs_router_total 1\n")
      expect(text).toContain("target_info{service_name=\"fanfare-worker\"")
      parse(text)
    }).pipe(Effect.provide(FetchHttpClient.layer), Effect.timeout("10 seconds")))

  it.live("Prometheus.layerServer and scrape", () =>
    Effect.gen(function*() {
      // #region prometheus-server
      const MetricsLive = Prometheus.layerServer({ serviceName: "fanfare-worker", host: "127.0.0.1", port: 0 })

      const program = Effect.gen(function*() {
        const text = yield* Prometheus.scrape // what GET /metrics answers
        yield* Effect.log(`${text.split("\n").length} lines of metrics`)
        return text
      })
      // #endregion prometheus-server
      const text = yield* program.pipe(Effect.provide(MetricsLive))
      expect(text).toContain("# TYPE target_info gauge")
    }).pipe(Effect.timeout("10 seconds")))

  it("the page's table names every metric of core, http and jobs as Prometheus exposes it", () => {
    const root = path.join(__dirname, "../../..")
    const sources = [
      "packages/core/src/Metrics.ts",
      "packages/http/src/HttpMetrics.ts",
      "packages/jobs/src/JobMetrics.ts"
    ]
    const defined = sources.flatMap((file) =>
      [...fs.readFileSync(path.join(root, file), "utf8").matchAll(/Metric\.(counter|gauge|histogram)\(\s*"(\w+)"/g)]
        .map(([, kind, name]) => ({ kind: kind!, name: name! }))
    )
    expect(defined.length).toBeGreaterThanOrEqual(28)
    const page = fs.readFileSync(path.join(root, "docs/telemetry.md"), "utf8")
    const rows = new Map(
      [...page.matchAll(/^\| `(bulwark_\w+)`[^|]*\| (counter|gauge|histogram) \|/gm)].map((
        [, name, type]
      ) => [name!, type!])
    )
    for (const { kind, name } of defined) {
      // an incremental counter's name already ends in _total, so the exporter keeps it as is
      expect(rows.get(name), name).toBe(kind)
      if (kind === "counter") expect(name).toMatch(/_total$/)
    }
    expect([...rows.keys()].sort()).toEqual(defined.map(({ name }) => name).sort())
  })

  it("the page's table of variables lists every variable layerConfig reads", () => {
    const page = fs.readFileSync(path.join(__dirname, "../../../docs/telemetry.md"), "utf8")
    const rows = [...page.matchAll(/^\| `(OTEL_\w+)` \|/gm)].map(([, name]) => name!)
    expect(rows.sort()).toEqual(Object.values(Telemetry.configKeys).sort())
  })

  it("the page shows only code that runs here", () => expectDocRegions("telemetry.md", __filename))
})
