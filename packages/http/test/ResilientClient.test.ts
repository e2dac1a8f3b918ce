import { Errors, Retry, Timeout } from "@bulwark/core"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, HashMap, Logger, Tracer } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { type Reply, serve } from "./utils/server.js"

/** Three attempts, 1 ms apart: the tests sleep for real, so the backoff is tiny. */
const fast = { retry: { maxAttempts: 3, base: "1 millis", jitter: "none" } } as const

const setup = (reply: (call: number) => Reply, policy: ResilientClient.Options["policy"] = fast) =>
  Effect.gen(function*() {
    const server = yield* serve(reply)
    const client = yield* ResilientClient.make({ service: "svc", policy })
    return { server, client }
  })

/** A port nothing listens on: bound, then closed. */
const closedPort = Effect.async<number>((resume) => {
  const server = http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

describe("ResilientClient", () => {
  it.live("a GET is retried on 503, then succeeds", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup((call) => ({ status: call === 1 ? 503 : 200 }))
      const response = yield* client.execute(HttpClientRequest.get(server.url))
      expect(response.status).toBe(200)
      expect(server.calls()).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a 429's retry-after-ms is honoured", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup((call) =>
        call === 1 ? { status: 429, headers: { "retry-after-ms": "80" } } : { status: 200 }
      )
      const start = yield* Clock.currentTimeMillis
      const response = yield* client.execute(HttpClientRequest.get(server.url))
      const elapsed = (yield* Clock.currentTimeMillis) - start
      expect(response.status).toBe(200)
      expect(server.calls()).toBe(2)
      // the backoff alone would have waited 1 ms
      expect(elapsed).toBeGreaterThanOrEqual(75)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a POST without a key is not retried after a connection reset", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup((call) => (call === 1 ? { status: 0, reset: true } : { status: 200 }))
      const error = yield* Effect.flip(client.execute(HttpClientRequest.post(server.url)))
      expect(error).toBeInstanceOf(Errors.ConnectionFailed)
      expect(error).toMatchObject({ service: "svc" })
      expect(server.calls()).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a PATCH without a key is not retried after a 500", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup((call) => ({ status: call === 1 ? 500 : 200 }))
      const error = yield* Effect.flip(client.execute(HttpClientRequest.patch(server.url)))
      expect(error).toMatchObject({ _tag: "ServerError", status: 500 })
      expect(server.calls()).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a POST without a key is retried after 503 and 429: the server said it did not process it", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup((call) =>
        call === 1 ? { status: 503 } : call === 2 ? { status: 429, headers: { "retry-after": "0" } } : { status: 200 }
      )
      const response = yield* client.execute(HttpClientRequest.post(server.url))
      expect(response.status).toBe(200)
      expect(server.calls()).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a POST without a key is retried when the connection was refused", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const client = yield* ResilientClient.make({ service: "svc", policy: fast })
      const error = yield* Effect.flip(client.execute(HttpClientRequest.post(`http://127.0.0.1:${port}/`)))
      expect(error).toBeInstanceOf(Retry.RetriesExhausted)
      expect(error).toMatchObject({ attempts: 3, lastError: { _tag: "ConnectionFailed", service: "svc" } })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.live("a POST with an idempotency key is retried after a reset, with the same key", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup((call) => (call === 1 ? { status: 0, reset: true } : { status: 201 }))
      const response = yield* client.execute(
        HttpClientRequest.post(server.url).pipe(HttpClientRequest.bodyUnsafeJson({ prompt: "a" })),
        { idempotencyKey: "job-42" }
      )
      expect(response.status).toBe(201)
      expect(server.requests().map((seen) => seen.headers["idempotency-key"])).toEqual(["job-42", "job-42"])
      expect(server.requests().map((seen) => seen.body)).toEqual(["{\"prompt\":\"a\"}", "{\"prompt\":\"a\"}"])
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a POST declared idempotent is retried after a reset and a 500, with nothing added to it", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup((call) =>
        call === 1 || call === 4 ? { status: 0, reset: true } : call === 2 ? { status: 500 } : { status: 200 }
      )
      const post = HttpClientRequest.post(server.url).pipe(HttpClientRequest.bodyUnsafeJson({ prompt: "a" }))
      const response = yield* client.execute(post, { idempotent: true })
      expect(response.status).toBe(200)
      expect(server.calls()).toBe(3)
      expect(server.requests().map((seen) => seen.headers["idempotency-key"])).toEqual([
        undefined,
        undefined,
        undefined
      ])
      expect(server.requests().map((seen) => seen.body)).toEqual(Array(3).fill("{\"prompt\":\"a\"}"))
      // false leaves the rule to the method: the same POST is not retried after the reset
      const refused = yield* Effect.flip(client.execute(post, { idempotent: false }))
      expect(refused).toMatchObject({ _tag: "ConnectionFailed" })
      expect(server.calls()).toBe(4)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a POST with a client_job_id is retried after a reset, the id in the body every time", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup((call) => (call === 1 ? { status: 0, reset: true } : { status: 200 }))
      yield* client.execute(
        HttpClientRequest.post(server.url).pipe(HttpClientRequest.bodyUnsafeJson({ task: "generate" })),
        { clientJobId: "5f0c" }
      )
      const bodies = server.requests().map((seen) => JSON.parse(seen.body))
      expect(bodies).toEqual([{ task: "generate", client_job_id: "5f0c" }, { task: "generate", client_job_id: "5f0c" }])
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a request's id is the same on every attempt and differs between requests", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup((call) => ({ status: call % 2 === 1 ? 503 : 200 }))
      yield* client.execute(HttpClientRequest.get(server.url))
      yield* client.execute(HttpClientRequest.get(server.url))
      const ids = server.requests().map((seen) => seen.headers["x-request-id"])
      expect(ids[0]).toMatch(/^[0-9a-f]{32}$/)
      expect(ids[1]).toBe(ids[0])
      expect(ids[2]).toBe(ids[3])
      expect(ids[2]).not.toBe(ids[0])
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("the caller's request id is kept, and is in every log line", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup((call) => ({ status: call === 1 ? 503 : 200 }))
      const lines: Array<Record<string, unknown>> = []
      const logger = Logger.make(({ annotations }) => {
        lines.push(Object.fromEntries(HashMap.toEntries(annotations)))
      })
      yield* client.execute(HttpClientRequest.get(server.url), { requestId: "req-1" }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      expect(server.requests().map((seen) => seen.headers["x-request-id"])).toEqual(["req-1", "req-1"])
      expect(lines.length).toBeGreaterThan(0)
      for (const line of lines) expect(line).toMatchObject({ service: "svc", request_id: "req-1" })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("the span: method, url without query secrets, status, service, attempts, request id", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup((call) => ({ status: call === 1 ? 503 : 200 }))
      const spans: Array<Tracer.Span> = []
      const tracer = yield* Effect.tracerWith((base) =>
        Effect.succeed(Tracer.make({
          span: (...args) => {
            const span = base.span(...args)
            spans.push(span)
            return span
          },
          context: base.context
        }))
      )
      const request = HttpClientRequest.get(`${server.url}/v1?model=m&api_key=sk-123`).pipe(
        HttpClientRequest.setUrlParam("access_token", "t0k")
      )
      yield* client.execute(request, { requestId: "req-2" }).pipe(Effect.withTracer(tracer))
      const span = spans.find((span) => span.name === "ResilientClient.execute")
      const attributes = Object.fromEntries(span?.attributes ?? [])
      expect(attributes).toEqual({
        "http.request.method": "GET",
        "url.full": `${server.url}/v1?model=m&api_key=REDACTED&access_token=REDACTED`,
        "http.response.status_code": 200,
        "bulwark.service": "svc",
        "bulwark.attempt": 2,
        "bulwark.request_id": "req-2"
      })
      expect(JSON.stringify(attributes)).not.toMatch(/sk-123|t0k/)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("giving up: RetriesExhausted with the status, the service and the attempts", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup(() => ({ status: 503, body: "down" }))
      const error = yield* Effect.flip(client.execute(HttpClientRequest.get(server.url)))
      expect(error).toBeInstanceOf(Retry.RetriesExhausted)
      expect(error).toMatchObject({
        attempts: 3,
        reason: "max-attempts",
        lastError: { _tag: "Unavailable", status: 503, service: "svc" }
      })
      expect(server.calls()).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a per-request timeout: AttemptTimedOut, not retried for a POST without a key", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup(() => ({ status: 200, delay: 3_000 }))
      const error = yield* Effect.flip(client.execute(HttpClientRequest.post(server.url), { timeout: "250 millis" }))
      expect(error).toBeInstanceOf(Timeout.AttemptTimedOut)
      expect(error).toMatchObject({ service: "svc" })
      expect(server.calls()).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a per-request timeout: a GET is retried, then gives up with the AttemptTimedOut", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup(() => ({ status: 200, delay: 3_000 }), {
        retry: { maxAttempts: 2, base: "1 millis" },
        attemptTimeout: "10 seconds"
      })
      const error = yield* Effect.flip(client.execute(HttpClientRequest.get(server.url), { timeout: "250 millis" }))
      expect(error).toMatchObject({ _tag: "RetriesExhausted", attempts: 2, lastError: { _tag: "AttemptTimedOut" } })
      expect(server.calls()).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.effect("invalid options fail with InvalidPolicy", () =>
    Effect.gen(function*() {
      const refused = (options: ResilientClient.Options) => Effect.flip(ResilientClient.make(options))
      expect(yield* refused({ service: "" })).toMatchObject({ _tag: "InvalidPolicy", field: "service" })
      expect(yield* refused({ service: "svc", policy: { retry: { maxAttempts: 0 } } })).toMatchObject({
        _tag: "InvalidPolicy",
        field: "maxAttempts"
      })
      expect(yield* refused({ service: "svc", classify: { maxExcerpt: -1 } })).toMatchObject({
        _tag: "InvalidPolicy",
        field: "maxExcerpt"
      })
      const client = yield* ResilientClient.make({ service: "svc", policy: fast })
      const request = HttpClientRequest.get("http://127.0.0.1:1/")
      expect(yield* Effect.flip(client.execute(request, { timeout: -1 }))).toMatchObject({ field: "timeout" })
      expect(yield* Effect.flip(client.execute(request, { idempotencyKey: "" }))).toMatchObject({
        field: "idempotencyKey"
      })
      expect(yield* Effect.flip(client.execute(request, { idempotent: "yes" as unknown as boolean }))).toMatchObject({
        field: "idempotent"
      })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it("withClientJobId adds the field to a JSON object body and refuses anything else", () => {
    const post = HttpClientRequest.post("http://x/")
    const body = (request: HttpClientRequest.HttpClientRequest) =>
      request.body._tag === "Uint8Array" ? JSON.parse(new TextDecoder().decode(request.body.body)) : undefined
    const added = ResilientClient.withClientJobId(post.pipe(HttpClientRequest.bodyUnsafeJson({ a: 1 })), "j")
    expect(added._tag === "Right" && body(added.right)).toEqual({ a: 1, client_job_id: "j" })
    const empty = ResilientClient.withClientJobId(post, "j")
    expect(empty._tag === "Right" && body(empty.right)).toEqual({ client_job_id: "j" })
    expect(ResilientClient.withClientJobId(post.pipe(HttpClientRequest.bodyUnsafeJson([1])), "j")._tag).toBe("Left")
    expect(ResilientClient.withClientJobId(post.pipe(HttpClientRequest.bodyText("x")), "j")._tag).toBe("Left")
    const other = post.pipe(HttpClientRequest.bodyUnsafeJson({ client_job_id: "k" }))
    expect(ResilientClient.withClientJobId(other, "j")._tag).toBe("Left")
  })

  it("isAmbiguous", () => {
    expect(ResilientClient.isAmbiguous(new Errors.ConnectionFailed({ detail: "other side closed" }))).toBe(true)
    expect(ResilientClient.isAmbiguous(new Errors.ConnectionFailed({ detail: "connect ECONNREFUSED 127.0.0.1:1" })))
      .toBe(false)
    expect(ResilientClient.isAmbiguous(new Errors.TimedOut({}))).toBe(true)
    expect(ResilientClient.isAmbiguous(new Errors.TimedOut({ status: 408 }))).toBe(false)
    expect(ResilientClient.isAmbiguous(new Errors.TimedOut({ detail: "fetch failed: Connect Timeout Error" }))).toBe(
      false
    )
    expect(ResilientClient.isAmbiguous(new Errors.Unavailable({ status: 503 }))).toBe(false)
    expect(ResilientClient.isAmbiguous(new Errors.ServerError({ status: 502 }))).toBe(true)
    expect(ResilientClient.isAmbiguous("boom")).toBe(false)
  })
})
