import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as Errors from "@bulwark/core/Errors"
import * as Policy from "@bulwark/core/Policy"
import * as Job from "@bulwark/jobs/Job"
import * as JobStore from "@bulwark/jobs/JobStore"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as JobType from "@bulwark/jobs/JobType"
import { FetchHttpClient, HttpClient, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Layer, Logger, Metric, Schedule, Schema } from "effect"
import * as http from "node:http"
import * as Prometheus from "../src/Prometheus.js"
import { find, parse } from "./utils/promText.js"

/** Where an `HttpServer` in context listens. */
const baseUrl = Effect.map(
  HttpServer.HttpServer,
  (server) => server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}` : ""
)

/** GET over real HTTP: status, content type and body. */
const get = (url: string) =>
  Effect.flatMap(HttpClient.get(url), (response) =>
    Effect.map(response.text, (body) => ({
      status: response.status,
      contentType: response.headers["content-type"],
      body
    }))).pipe(Effect.provide(FetchHttpClient.layer))

/** A program's own server with `/metrics` mounted beside its routes, as `bulwark serve` does. */
const AppServer = HttpRouter.empty.pipe(
  HttpRouter.get("/health", HttpServerResponse.text("ok")),
  HttpRouter.concat(Prometheus.router),
  HttpServer.serve(),
  Layer.provideMerge(NodeHttpServer.layer(() => http.createServer(), { host: "127.0.0.1", port: 0 }))
)

/** The upstream behind the policy: down for good, asking callers to wait 200 ms (a 503 with Retry-After). */
const down = Effect.fail(
  new Errors.Unavailable({ service: "prom-upstream", status: 503, retryAfter: Duration.millis(200) })
)

let composeCalls = 0
const Compose = JobType.make({
  name: "prom-compose",
  payload: Schema.Struct({ prompt: Schema.String }),
  result: Schema.String,
  error: Errors.Unavailable,
  base: "1 millis",
  jitter: "none",
  handler: ({ prompt }) =>
    // the first attempt fails: one re-queue, then success
    ++composeCalls === 1 ? Effect.fail(new Errors.Unavailable({ service: "orpheus" })) : Effect.succeed(prompt)
})

const JobsLive = JobSupervisor.layer({ types: [Compose], pollInterval: "10 millis", metricsInterval: "10 millis" })
  .pipe(Layer.provide(JobStore.layerMemory))

describe("Prometheus", () => {
  it.live("serves Bulwark's retry, budget, breaker, gate, bulkhead, limiter and job metrics at /metrics with their tags as labels", () =>
    Effect.gen(function*() {
      // A policy whose retries run into the breaker it opens: 2 failures open it, the 3rd attempt is refused.
      // The first failure's Retry-After (200 ms, ignored by the retry) closes the gate: the 2nd attempt waits at it.
      const policy = yield* Policy.make({
        service: "prom-upstream",
        retry: { maxAttempts: 3, base: "1 millis", jitter: "none", retryAfter: "ignore" },
        budget: { ratio: 0.2, minRetriesPerSecond: 1, ttl: "10 seconds" },
        circuitBreaker: { trip: CircuitBreaker.consecutiveFailures(2), openDuration: "1 minute" },
        retryAfterGate: { maxWait: "1 second" },
        rateLimiter: { rate: 1000, interval: "1 second" },
        adaptiveLimiter: { initialLimit: 10 },
        bulkhead: { maxConcurrent: 2 }
      })
      const exit = yield* Effect.exit(policy.protect(down))
      expect(Exit.isFailure(exit)).toBe(true)
      expect((yield* policy.layers.circuitBreaker!.stats).state).toBe("OPEN")
      // the limiter shrank on each overload (a 503 is one)
      const limit = (yield* policy.layers.adaptiveLimiter!.stats).limit
      expect(limit).toBeLessThan(10)

      // A budget with no reserve: one call deposits 0.1 of a retry, so its first retry is refused.
      const thrifty = yield* Policy.make({
        service: "prom-thrifty",
        retry: { maxAttempts: 3, base: "1 millis", jitter: "none" },
        budget: { ratio: 0.1, minRetriesPerSecond: 0 }
      })
      expect(Exit.isFailure(yield* Effect.exit(thrifty.protect(down)))).toBe(true)

      // A job that fails once, is re-queued, then succeeds.
      const jobs = yield* JobSupervisor.JobSupervisor
      const id = yield* jobs.submit(Compose, { prompt: "fanfare" })
      expect(yield* jobs.wait(Compose, id, { timeout: "5 seconds" })).toBe("fanfare")

      const url = `${yield* baseUrl}/metrics`
      // the jobs-by-state gauge is sampled every 10 ms: scrape until it has seen the success
      const scrape = yield* get(url).pipe(
        Effect.filterOrFail((r) =>
          find(parse(r.body), "bulwark_jobs", { state: "succeeded" }).some((s) => s.value >= 1)
        ),
        Effect.retry(Schedule.spaced("20 millis")),
        Effect.timeout("5 seconds")
      )
      expect(scrape.status).toBe(200)
      expect(scrape.contentType).toBe("text/plain; version=0.0.4; charset=utf-8")
      const families = parse(scrape.body)
      const type = (name: string) => families.get(name)?.type
      const value = (name: string, labels: Record<string, string>) => {
        const samples = find(families, name, labels)
        expect(samples, `${name} ${JSON.stringify(labels)}`).toHaveLength(1)
        return samples[0]!.value
      }

      // retries: by policy and error tag; the delays as a histogram
      expect(type("bulwark_retry_attempts_total")).toBe("counter")
      expect(value("bulwark_retry_attempts_total", { policy: "prom-upstream", error: "Unavailable" })).toBe(2)
      expect(value("bulwark_retry_exhausted_total", { policy: "prom-upstream", reason: "max-attempts" })).toBe(1)
      expect(type("bulwark_retry_delay_seconds")).toBe("histogram")
      expect(value("bulwark_retry_delay_seconds_count", { policy: "prom-upstream" })).toBe(2)
      expect(value("bulwark_retry_delay_seconds_sum", { policy: "prom-upstream" })).toBeCloseTo(0.003)
      expect(value("bulwark_retry_delay_seconds_bucket", { policy: "prom-upstream", le: "0.01" })).toBe(2)
      expect(value("bulwark_retry_delay_seconds_bucket", { policy: "prom-upstream", le: "+Inf" })).toBe(2)

      // the breaker: its state (2 = open), the transition and the refused call, by service
      expect(type("bulwark_circuit_state")).toBe("gauge")
      expect(value("bulwark_circuit_state", { service: "prom-upstream" })).toBe(2)
      expect(value("bulwark_circuit_transitions_total", { service: "prom-upstream", from: "CLOSED", to: "OPEN" }))
        .toBe(1)
      expect(value("bulwark_circuit_rejections_total", { service: "prom-upstream", state: "OPEN" })).toBe(1)

      // the retry budget: its balance after each withdrawal (10 reserve + 0.2 × 1 call − 2 retries), and refusals
      expect(type("bulwark_retry_budget_balance")).toBe("gauge")
      expect(value("bulwark_retry_budget_balance", { service: "prom-upstream" })).toBeCloseTo(8.2)
      expect(value("bulwark_retry_budget_balance", { service: "prom-thrifty" })).toBeCloseTo(0.1)
      expect(type("bulwark_retry_budget_exhausted_total")).toBe("counter")
      expect(value("bulwark_retry_budget_exhausted_total", { service: "prom-thrifty" })).toBe(1)
      expect(find(families, "bulwark_retry_budget_exhausted_total", { service: "prom-upstream" })).toHaveLength(0)

      // the Retry-After gate: the 2nd attempt waited at it
      expect(type("bulwark_retry_after_gate_waits_total")).toBe("counter")
      expect(value("bulwark_retry_after_gate_waits_total", { service: "prom-upstream" })).toBe(1)

      // the adaptive limiter: its current limit and calls in flight (none now), by service
      expect(type("bulwark_adaptive_limit")).toBe("gauge")
      expect(value("bulwark_adaptive_limit", { service: "prom-upstream" })).toBe(limit)
      expect(type("bulwark_adaptive_inflight")).toBe("gauge")
      expect(value("bulwark_adaptive_inflight", { service: "prom-upstream" })).toBe(0)

      // the bulkhead's gauges (nothing running now) and the limiter's waits, by service
      expect(type("bulwark_bulkhead_active")).toBe("gauge")
      expect(value("bulwark_bulkhead_active", { service: "prom-upstream" })).toBe(0)
      expect(value("bulwark_bulkhead_queued", { service: "prom-upstream" })).toBe(0)
      expect(type("bulwark_rate_limiter_wait_seconds")).toBe("histogram")
      expect(value("bulwark_rate_limiter_wait_seconds_count", { service: "prom-upstream" })).toBe(2)

      // jobs: attempts, outcomes, re-queues, durations and queue lag by type; states and running by queue
      expect(value("bulwark_job_attempts_total", { type: "prom-compose" })).toBe(2)
      expect(value("bulwark_job_outcomes_total", { type: "prom-compose", outcome: "requeued" })).toBe(1)
      expect(value("bulwark_job_outcomes_total", { type: "prom-compose", outcome: "succeeded" })).toBe(1)
      expect(value("bulwark_job_requeues_total", { type: "prom-compose", reason: "backoff" })).toBe(1)
      expect(type("bulwark_job_duration_seconds")).toBe("histogram")
      expect(value("bulwark_job_duration_seconds_count", { type: "prom-compose" })).toBe(2)
      expect(type("bulwark_job_lag_seconds")).toBe("histogram")
      expect(value("bulwark_job_lag_seconds_count", { type: "prom-compose" })).toBe(2)
      expect(type("bulwark_jobs_running")).toBe("gauge")
      expect(value("bulwark_jobs_running", { queue: "prom-compose" })).toBe(0)
      expect(type("bulwark_jobs")).toBe("gauge")
      for (const state of Job.JobState.literals) expect(find(families, "bulwark_jobs", { state })).not.toHaveLength(0)

      // the resource, once; no scope label on the samples
      expect(value("target_info", {})).toBe(1)
      expect(find(families, "target_info")[0]!.labels).toMatchObject({
        service_name: "prom-test",
        deployment_environment: "test"
      })
      expect(scrape.body).not.toContain("otel_scope_name")

      // the program's own routes still answer
      expect((yield* get(`${yield* baseUrl}/health`)).body).toBe("ok")
    }).pipe(
      Effect.provide(Layer.mergeAll(AppServer, JobsLive)),
      Effect.provide(Prometheus.layer({ serviceName: "prom-test", attributes: { "deployment.environment": "test" } })),
      Effect.timeout("20 seconds")
    ))

  it.live("keeps names and tags of any Effect metric: counters, gauges, histograms, escaped label values", () =>
    Effect.gen(function*() {
      const counter = Metric.counter("prom_test_calls_total", { description: "Calls", incremental: true })
      yield* Metric.incrementBy(Metric.tagged(counter, "path", "/a \"quoted\"\\path\n"), 3)
      yield* Metric.set(Metric.tagged(Metric.gauge("prom_test_depth"), "service", "x"), -1.5)
      // a non-incremental counter can go down: exposed as a gauge
      yield* Metric.incrementBy(Metric.counter("prom_test_balance"), -2)
      const text = yield* Prometheus.scrape
      const families = parse(text)
      expect(families.get("prom_test_calls_total")).toMatchObject({ type: "counter", help: "Calls" })
      expect(find(families, "prom_test_calls_total")[0]!.labels).toEqual({ path: "/a \"quoted\"\\path\n" })
      expect(find(families, "prom_test_calls_total")[0]!.value).toBe(3)
      expect(families.get("prom_test_depth")?.type).toBe("gauge")
      expect(find(families, "prom_test_depth", { service: "x" })[0]!.value).toBe(-1.5)
      expect(families.get("prom_test_balance")?.type).toBe("gauge")
      expect(find(families, "prom_test_balance")[0]!.value).toBe(-2)
      // a description-less metric still gets its HELP line, and nothing is suffixed with a unit
      expect(text).toContain("# HELP prom_test_depth description missing\n")
      expect(text).not.toMatch(/prom_test_depth_\w+/)
    }).pipe(Effect.provide(Prometheus.layer())))

  it.live("options: the scope label on demand, target_info off", () =>
    Effect.gen(function*() {
      yield* Metric.increment(Metric.counter("prom_test_options_total", { incremental: true }))
      const text = yield* Prometheus.scrape.pipe(
        Effect.provide(Prometheus.layer({ scopeLabels: true, targetInfo: false }))
      )
      expect(text).toContain("prom_test_options_total{otel_scope_name=\"@effect/opentelemetry/Metrics\"} 1\n")
      expect(text).not.toContain("target_info")
      parse(text)
    }))

  it.live("layerServer answers GET /metrics on its own port, 404 elsewhere", () =>
    Effect.gen(function*() {
      yield* Metric.increment(Metric.counter("prom_test_server_total", { incremental: true }))
      const base = yield* baseUrl
      const metrics = yield* get(`${base}/metrics`)
      expect(metrics).toMatchObject({ status: 200, contentType: Prometheus.contentType })
      expect(metrics.body).toContain("prom_test_server_total 1\n")
      expect((yield* get(`${base}/other`)).status).toBe(404)
    }).pipe(Effect.provide(Prometheus.layerServer({ host: "127.0.0.1", port: 0 })), Effect.timeout("10 seconds")))

  it.live("layerServer listens on 127.0.0.1 unless told otherwise, and says where", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => lines.push(String(message))))
      const address = yield* Effect.map(HttpServer.HttpServer, (server) => server.address).pipe(
        Effect.provide(Prometheus.layerServer({ port: 0 })),
        Effect.provide(capture)
      )
      // `localhost` could have bound ::1 alone, out of an IPv4 scraper's reach
      expect(address).toMatchObject({ _tag: "TcpAddress", hostname: "127.0.0.1" })
      const port = address._tag === "TcpAddress" ? address.port : 0
      expect(lines).toContain(`Prometheus metrics at http://127.0.0.1:${port}/metrics`)
    }).pipe(Effect.timeout("10 seconds")))

  it.live("layerServer fails with a ServeError when the port is taken", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const port = Number(new URL(base).port)
      const error = yield* Effect.flip(
        Layer.build(Prometheus.layerServer({ host: "127.0.0.1", port })).pipe(Effect.scoped)
      )
      expect(error._tag).toBe("ServeError")
    }).pipe(Effect.provide(Prometheus.layerServer({ host: "127.0.0.1", port: 0 })), Effect.timeout("10 seconds")))

  it.effect("layerConfig takes target_info from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES", () =>
    Effect.gen(function*() {
      const env = (map: Record<string, string>) =>
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(map))))
      const text = yield* Prometheus.scrape.pipe(
        Effect.provide(Prometheus.layerConfig({ serviceName: "option" })),
        env({ OTEL_SERVICE_NAME: "from-env", OTEL_RESOURCE_ATTRIBUTES: "team=gpu" })
      )
      const info = find(parse(text), "target_info")[0]!
      expect(info.labels).toMatchObject({ service_name: "from-env", team: "gpu" })
      const error = yield* Effect.flip(
        Prometheus.scrape.pipe(
          Effect.provide(Prometheus.layerConfig()),
          env({ OTEL_RESOURCE_ATTRIBUTES: "team" })
        )
      )
      expect(String(error)).toContain("OTEL_RESOURCE_ATTRIBUTES")
    }))
})
