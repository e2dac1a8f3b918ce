import { Errors, Retry } from "@bulwark/core"
import * as HttpMetrics from "@bulwark/http/HttpMetrics"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import { FetchHttpClient, HttpClient, HttpClientError, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, HashMap, Layer, Logger, LogLevel, Metric } from "effect"
import { serve } from "./utils/server.js"

const fast = { retry: { maxAttempts: 3, base: "1 millis", jitter: "none" } } as const

const count = (metric: Metric.Metric.Counter<number>, tags: Record<string, string>) =>
  Effect.map(
    Metric.value(Object.entries(tags).reduce((tagged, [key, value]) => Metric.tagged(tagged, key, value), metric)),
    (state) => state.count
  )

interface Line {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

const capture = () => {
  const lines: Array<Line> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    lines.push({
      level: logLevel.label,
      message: Array.isArray(message) ? message.join(" ") : String(message),
      annotations: Object.fromEntries(HashMap.toEntries(annotations))
    })
  })
  return {
    lines,
    layer: Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.All))
  }
}

describe("ResilientClient observability", () => {
  it.live("metrics: requests by status class, failures by tag, hint sources, durations", () =>
    Effect.gen(function*() {
      const server = yield* serve((call) =>
        call === 1
          ? { status: 429, headers: { "retry-after": "0" } }
          : call === 2
          ? { status: 503, headers: { "retry-after-ms": "soon", "x-should-retry": "maybe" } }
          : { status: 200 }
      )
      const client = yield* ResilientClient.make({ service: "metrics-svc", policy: fast })
      yield* client.execute(HttpClientRequest.get(server.url))
      const service = "metrics-svc"
      expect(yield* count(HttpMetrics.requests, { service, method: "GET", status_class: "4xx" })).toBe(1)
      expect(yield* count(HttpMetrics.requests, { service, method: "GET", status_class: "5xx" })).toBe(1)
      expect(yield* count(HttpMetrics.requests, { service, method: "GET", status_class: "2xx" })).toBe(1)
      expect(yield* count(HttpMetrics.failures, { service, error: "RateLimited" })).toBe(1)
      expect(yield* count(HttpMetrics.failures, { service, error: "Unavailable" })).toBe(1)
      expect(yield* count(HttpMetrics.hints, { service, header: "retry-after", verdict: "delay" })).toBe(1)
      expect(yield* count(HttpMetrics.hints, { service, header: "retry-after-ms", verdict: "invalid" })).toBe(1)
      expect(yield* count(HttpMetrics.hints, { service, header: "x-should-retry", verdict: "invalid" })).toBe(1)
      const durations = yield* Metric.value(
        Metric.tagged(Metric.tagged(HttpMetrics.requestDuration, "service", service), "method", "GET")
      )
      expect(durations.count).toBe(3)
      expect(durations.min).toBeGreaterThanOrEqual(0)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it("statusClass", () => {
    expect([200, 301, 404, 503, undefined, 42, 600].map(HttpMetrics.statusClass)).toEqual([
      "2xx",
      "3xx",
      "4xx",
      "5xx",
      "none",
      "none",
      "none"
    ])
  })

  it.live("one WARN per retry (the policy's), the response's facts at DEBUG; ERROR on giving up", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => ({ status: 503, headers: { "retry-after": "0" } }))
      const client = yield* ResilientClient.make({ service: "logs-svc", policy: fast })
      const { layer, lines } = capture()
      const error = yield* Effect.flip(
        client.execute(HttpClientRequest.get(server.url), { requestId: "r-9" }).pipe(Effect.provide(layer))
      )
      expect(error).toBeInstanceOf(Retry.RetriesExhausted)
      const warnings = lines.filter((line) => line.level === "WARN")
      // Two retries and the give-up, each said once, by the policy.
      expect(warnings.map((line) => line.message)).toEqual([
        expect.stringMatching(/^\[Attempt 1\/3\] logs-svc failed: .*\. Retrying in /),
        expect.stringMatching(/^\[Attempt 2\/3\] logs-svc failed: .*\. Retrying in /),
        expect.stringMatching(/^\[Attempt 3\/3\] logs-svc failed: .*\. Giving up: /)
      ])
      const ours = lines.filter((line) => line.annotations.hint_raw !== undefined)
      expect(ours.map((line) => [line.level, line.annotations.attempt])).toEqual([["DEBUG", 1], ["DEBUG", 2], [
        "DEBUG",
        3
      ]])
      expect(ours[0]!.annotations).toMatchObject({
        service: "logs-svc",
        request_id: "r-9",
        status: 503,
        error: "Unavailable",
        hint_header: "retry-after",
        hint_raw: "0",
        hint_ms: 0
      })
      expect(ours[0]!.message).toContain("server hint retry-after \"0\"")
      const errors = lines.filter((line) => line.level === "ERROR")
      expect(errors).toHaveLength(1)
      expect(errors[0]!.message).toMatch(/^logs-svc GET http:\/\/127\.0\.0\.1:\d+\/? gave up after 3 attempts/)
      expect(errors[0]!.annotations).toMatchObject({ attempts: 3, error: "RetriesExhausted", request_id: "r-9" })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a hint the client cannot read: the policy's WARN names the header and its raw value, once", () =>
    Effect.gen(function*() {
      const server = yield* serve((call) =>
        call === 1 ? { status: 503, headers: { "retry-after": "soon" } } : { status: 200 }
      )
      const client = yield* ResilientClient.make({ service: "garbled-svc", policy: fast })
      const { layer, lines } = capture()
      yield* client.execute(HttpClientRequest.get(server.url)).pipe(Effect.provide(layer))
      const warnings = lines.filter((line) => line.level === "WARN")
      expect(warnings.map((line) => line.message)).toEqual([
        expect.stringMatching(/^\[Attempt 1\/3\] garbled-svc failed: .*ignored retry-after "soon".*Retrying in /)
      ])
      const facts = lines.filter((line) => line.annotations.hint_raw !== undefined)
      expect(facts.map((line) => [line.level, line.annotations.hint_header, line.annotations.hint_raw])).toEqual([
        ["DEBUG", "retry-after", "soon"]
      ])
      expect(facts[0]!.message.match(/soon/g)).toHaveLength(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("no WARN or ERROR for a refusal that is not retried", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => ({ status: 404 }))
      const client = yield* ResilientClient.make({ service: "quiet-svc", policy: fast })
      const { layer, lines } = capture()
      yield* Effect.flip(client.execute(HttpClientRequest.get(server.url)).pipe(Effect.provide(layer)))
      expect(lines.filter((line) => line.level === "WARN" || line.level === "ERROR")).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})

describe("ResilientClient as an HttpClient", () => {
  it.live("typedHttpClient: every request through the policy, typed errors in the error channel", () =>
    Effect.gen(function*() {
      const server = yield* serve((call) => ({ status: call === 1 ? 503 : 404 }))
      const client = ResilientClient.typedHttpClient(yield* ResilientClient.make({ service: "svc", policy: fast }))
      const error = yield* Effect.flip(client.get(`${server.url}/x`))
      expect(error).toMatchObject({ _tag: "HttpRejected", status: 404, service: "svc" })
      expect(server.calls()).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("layerHttpClient: code that asks for HttpClient gets the policy; failureOf recovers the typed failure", () =>
    Effect.gen(function*() {
      const server = yield* serve((call) => ({ status: call <= 3 ? 503 : 200 }))
      const sdk = (path: string) =>
        Effect.flatMap(HttpClient.HttpClient, (client) => client.get(`${server.url}${path}`))
      const layer = ResilientClient.layerHttpClient({ service: "sdk-svc", policy: fast }).pipe(
        Layer.provide(FetchHttpClient.layer)
      )
      const error = yield* Effect.flip(sdk("/a").pipe(Effect.provide(layer)))
      expect(error).toBeInstanceOf(HttpClientError.ResponseError)
      expect(error).toMatchObject({ reason: "StatusCode", response: { status: 503 } })
      const failure = ResilientClient.failureOf(error)
      expect(failure).toBeInstanceOf(Retry.RetriesExhausted)
      expect(failure).toMatchObject({ attempts: 3, lastError: { _tag: "Unavailable", service: "sdk-svc" } })
      expect(error.message).toContain("gave up after 3 attempts")
      const response = yield* sdk("/b").pipe(Effect.provide(layer))
      expect(response.status).toBe(200)
    }).pipe(Effect.scoped))

  it.live("a transport failure is a RequestError carrying the typed failure", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => ({ status: 0, reset: true }))
      const client = yield* ResilientClient.wrap(yield* HttpClient.HttpClient, { service: "svc", policy: fast })
      const error = yield* Effect.flip(client.post(server.url))
      expect(error).toBeInstanceOf(HttpClientError.RequestError)
      expect(ResilientClient.failureOf(error)).toBeInstanceOf(Errors.ConnectionFailed)
      // an unkeyed POST after a reset: one attempt
      expect(server.calls()).toBe(1)
      expect(ResilientClient.failureOf(new Error("x"))).toBeUndefined()
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("the drop-in honours the request's own Idempotency-Key and x-request-id", () =>
    Effect.gen(function*() {
      const server = yield* serve((call) => (call === 1 ? { status: 0, reset: true } : { status: 200 }))
      const client = yield* ResilientClient.wrap(yield* HttpClient.HttpClient, { service: "svc", policy: fast })
      const response = yield* client.execute(
        HttpClientRequest.post(server.url).pipe(
          HttpClientRequest.setHeaders({ "idempotency-key": "k-1", "x-request-id": "r-1" })
        )
      )
      expect(response.status).toBe(200)
      expect(server.requests().map((seen) => [seen.headers["idempotency-key"], seen.headers["x-request-id"]])).toEqual([
        ["k-1", "r-1"],
        ["k-1", "r-1"]
      ])
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})
