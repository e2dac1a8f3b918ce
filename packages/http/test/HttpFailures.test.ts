import { Errors, Retry } from "@bulwark/core"
import * as HttpFailures from "@bulwark/http/HttpFailures"
import { FetchHttpClient, HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Option } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { type Reply, serve } from "./utils/server.js"

/** A port nothing listens on: bound, then closed. */
const closedPort = Effect.async<number>((resume) => {
  const server = http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

const get = <E = never>(url: string, options?: HttpFailures.Options<E>) =>
  Effect.gen(function*() {
    const client = (yield* HttpClient.HttpClient).pipe(yield* HttpFailures.classify({ service: "svc", ...options }))
    return yield* client.get(url)
  }).pipe(Effect.provide(FetchHttpClient.layer))

const failureOf = (reply: Reply, options?: HttpFailures.Options<never>) =>
  Effect.gen(function*() {
    const { url } = yield* serve(() => reply)
    return yield* Effect.flip(get(url, options))
  }).pipe(Effect.scoped)

describe("HttpFailures.classify", () => {
  it.live("a 2xx passes untouched, its body unread", () =>
    Effect.gen(function*() {
      const { url } = yield* serve(() => ({ status: 200, body: "hello" }))
      const response = yield* get(url)
      expect(response.status).toBe(200)
      expect(yield* response.text).toBe("hello")
    }).pipe(Effect.scoped))

  it.live("429 with Retry-After: 3 → RateLimited, retryAfter 3 seconds", () =>
    Effect.gen(function*() {
      const error = yield* failureOf({ status: 429, headers: { "Retry-After": "3" } })
      expect(error).toBeInstanceOf(Errors.RateLimited)
      expect(error).toMatchObject({ status: 429, service: "svc", retryAfter: Duration.seconds(3) })
    }))

  it.live("503 → Unavailable", () =>
    Effect.gen(function*() {
      const error = yield* failureOf({ status: 503, body: "down for maintenance" })
      expect(error).toBeInstanceOf(Errors.Unavailable)
      expect(error).toMatchObject({ status: 503, service: "svc" })
    }))

  it.live("Ollama's 503 'server busy' with isOverloaded → Overloaded", () =>
    Effect.gen(function*() {
      const reply = {
        status: 503,
        headers: { "content-type": "application/json; charset=utf-8" },
        body: JSON.stringify({ error: "server busy, please try again.  maximum pending requests exceeded" })
      }
      const error = yield* failureOf(reply, { isOverloaded: HttpFailures.isOllamaBusy })
      expect(error).toBeInstanceOf(Errors.Overloaded)
      expect(error).toMatchObject({ status: 503, service: "svc" })
      expect((error as Errors.Overloaded).detail).toContain("server busy")
      // without the option, the same response is a plain 503
      expect(yield* failureOf(reply)).toBeInstanceOf(Errors.Unavailable)
    }))

  it.live("500 and 502 → ServerError", () =>
    Effect.gen(function*() {
      for (const status of [500, 502]) {
        const error = yield* failureOf({ status })
        expect(error).toBeInstanceOf(Errors.ServerError)
        expect(error).toMatchObject({ status })
      }
    }))

  it.live("408 → TimedOut", () =>
    Effect.gen(function*() {
      expect(yield* failureOf({ status: 408 })).toBeInstanceOf(Errors.TimedOut)
    }))

  it.live("404 → HttpRejected with status, headers and a bounded excerpt", () =>
    Effect.gen(function*() {
      const body = "x".repeat(10 * 1024)
      const error = yield* failureOf({
        status: 404,
        headers: { "content-type": "text/plain", "x-request-id": "abc", "set-cookie": "session=secret" },
        body
      })
      expect(error).toBeInstanceOf(HttpFailures.HttpRejected)
      const rejected = error as HttpFailures.HttpRejected
      expect(rejected.status).toBe(404)
      expect(rejected.service).toBe("svc")
      expect(rejected.headers["x-request-id"]).toBe("abc")
      expect(rejected.headers["set-cookie"]).toBe("<redacted>")
      expect(rejected.excerpt).toBe("x".repeat(HttpFailures.defaults.maxExcerpt))
      expect(rejected.truncated).toBe(true)
      expect(rejected.message.length).toBeLessThan(300)
    }))

  it.live("the excerpt never cuts a character in half, and maxExcerpt: 0 reads nothing", () =>
    Effect.gen(function*() {
      const error = yield* failureOf({ status: 400, body: "é".repeat(10) }, { maxExcerpt: 5 })
      expect(error).toMatchObject({ excerpt: "éé", truncated: true })
      const none = yield* failureOf({ status: 400, body: "nope" }, { maxExcerpt: 0 })
      expect(none).toMatchObject({ excerpt: "", truncated: false })
    }))

  it.live("a short body is kept whole", () =>
    Effect.gen(function*() {
      const error = yield* failureOf({ status: 401, body: "{\"error\":\"bad key\"}" })
      expect(error).toMatchObject({ _tag: "HttpRejected", excerpt: "{\"error\":\"bad key\"}", truncated: false })
    }))

  it.live("connection refused → ConnectionFailed with the cause in detail", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const error = yield* Effect.flip(get(`http://127.0.0.1:${port}/`))
      expect(error).toBeInstanceOf(Errors.ConnectionFailed)
      expect((error as Errors.ConnectionFailed).detail).toContain("ECONNREFUSED")
    }))

  it.live("a connection reset before the response → ConnectionFailed", () =>
    Effect.gen(function*() {
      const error = yield* failureOf({ status: 200, reset: true })
      expect(error).toBeInstanceOf(Errors.ConnectionFailed)
      expect(error).toMatchObject({ service: "svc" })
    }))

  it.live("a per-service override wins; none() lets the response through", () =>
    Effect.gen(function*() {
      const options: HttpFailures.Options<Errors.Unavailable> = {
        classify: (response) =>
          response.status === 404
            ? Option.none()
            : response.status === 400
            ? Option.some(new Errors.Unavailable({ service: "custom", status: 400 }))
            : undefined
      }
      const { url } = yield* serve((call) => ({ status: call === 1 ? 404 : call === 2 ? 400 : 500 }))
      expect((yield* get(url, options)).status).toBe(404)
      expect(yield* Effect.flip(get(url, options))).toMatchObject({ _tag: "Unavailable", service: "custom" })
      expect(yield* Effect.flip(get(url, options))).toBeInstanceOf(Errors.ServerError)
    }).pipe(Effect.scoped))

  it("invalid options are refused when the client is built", () => {
    const refused = (options: HttpFailures.Options) =>
      Either.getLeft(HttpFailures.classify(options)).pipe(Option.getOrThrow)
    expect(refused({ maxExcerpt: -1 })).toMatchObject({ _tag: "InvalidPolicy", field: "maxExcerpt", value: "-1" })
    expect(refused({ maxExcerpt: 1.5 })).toMatchObject({ _tag: "InvalidPolicy", field: "maxExcerpt" })
    expect(refused({ service: "" })).toMatchObject({ _tag: "InvalidPolicy", field: "service" })
    expect(refused({ classify: 1 as never })).toBeInstanceOf(Errors.InvalidPolicy)
    expect(Either.isRight(HttpFailures.classify({ maxExcerpt: 0 }))).toBe(true)
  })

  it.live("composes with Retry.retry: 429 Retry-After: 0 twice, then 200", () =>
    Effect.gen(function*() {
      const server = yield* serve((call) =>
        call <= 2 ? { status: 429, headers: { "Retry-After": "0" }, body: "busy" } : { status: 200, body: "done" }
      )
      const policy = yield* Retry.policy({ name: "svc", maxAttempts: 3, retryAfter: "override" })
      const response = yield* get(server.url).pipe(Retry.retry(policy))
      expect(response.status).toBe(200)
      expect(server.calls()).toBe(3)
    }).pipe(Effect.scoped))
})
