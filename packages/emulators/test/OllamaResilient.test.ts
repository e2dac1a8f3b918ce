import { type Errors, Retry, Timeout } from "@bulwark/core"
import * as HttpFailures from "@bulwark/http/HttpFailures"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Fiber, Schedule } from "effect"
import * as OllamaEmulator from "../src/OllamaEmulator.js"

/** Small real-time backoff: the tests sleep for real. */
const retry = (maxAttempts: number, base: Duration.DurationInput = "10 millis") =>
  ({ maxAttempts, base, jitter: "none" }) as const

const client = (policy: ResilientClient.Options["policy"]) =>
  ResilientClient.make({ service: "ollama", policy, classify: { isOverloaded: HttpFailures.isOllamaBusy } })

const generate = (url: string, body: Record<string, unknown> = {}) =>
  HttpClientRequest.post(`${url}/api/generate`).pipe(
    HttpClientRequest.bodyUnsafeJson({ model: "llama3.2:3b", prompt: "hi", stream: false, ...body })
  )

const occupy = (emulator: OllamaEmulator.Service) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.promise(() =>
      fetch(`${emulator.url}/api/generate`, {
        method: "POST",
        body: JSON.stringify({ model: "llama3.2:3b", prompt: "hold", stream: false, options: { num_predict: 5 } })
      }).then((response) => response.status)
    ))
    yield* Effect.repeat(emulator.queue, {
      until: (queue) => queue.running === 1,
      schedule: Schedule.spaced("2 millis")
    })
    return fiber
  })

describe("OllamaEmulator with ResilientClient", () => {
  it.live("a full queue's 503 is retried with backoff until the slot frees", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "30ms", numParallel: 1, maxQueue: 0 })
      const holder = yield* occupy(emulator)
      const resilient = yield* client({ retry: retry(20, "20 millis") })
      // an unkeyed POST is retried after a 503: the server said it did not take it
      const response = yield* resilient.execute(generate(emulator.url, { options: { num_predict: 2 } }))
      expect(response.status).toBe(200)
      expect((yield* response.json) as object).toMatchObject({ done: true })
      expect(yield* Fiber.join(holder)).toBe(200)
      const stats = yield* emulator.stats
      expect(stats.responses["200"]).toBe(2)
      expect(stats.responses["503"]).toBeGreaterThanOrEqual(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("when the queue stays full it gives up with the Overloaded 503, the service and the attempts", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "60ms", numParallel: 1, maxQueue: 0 })
      yield* occupy(emulator)
      const resilient = yield* client({ retry: retry(3) })
      const error = yield* Effect.flip(resilient.execute(generate(emulator.url)))
      expect(error).toBeInstanceOf(Retry.RetriesExhausted)
      expect(error).toMatchObject({
        attempts: 3,
        lastError: { _tag: "Overloaded", service: "ollama", status: 503 }
      })
      expect((error as Retry.RetriesExhausted<Errors.Overloaded>).lastError.detail).toContain("server busy")
      expect((yield* emulator.stats).responses["503"]).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("an unknown model's 404 is not retried; the error carries Ollama's text", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "0ms" })
      const resilient = yield* client({ retry: retry(3) })
      const error = yield* Effect.flip(resilient.execute(generate(emulator.url, { model: "mistral:7b" })))
      expect(error).toMatchObject({ _tag: "HttpRejected", service: "ollama", status: 404 })
      expect((error as HttpFailures.HttpRejected).excerpt).toBe("{\"error\":\"model 'mistral:7b' not found\"}")
      expect((yield* emulator.stats).requests).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a reply slower than the attempt timeout: AttemptTimedOut, an unkeyed POST is not retried, a keyed one is", () =>
    Effect.gen(function*() {
      // a timeout long enough for every attempt to reach the emulator on a loaded machine
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "400ms", numParallel: 2 })
      const resilient = yield* client({ retry: retry(2), attemptTimeout: "200 millis" })
      const unkeyed = yield* Effect.flip(resilient.execute(generate(emulator.url)))
      expect(unkeyed).toBeInstanceOf(Timeout.AttemptTimedOut)
      expect(unkeyed).toMatchObject({ service: "ollama" })
      expect((yield* emulator.stats).requests).toBe(1)
      // the client went away: the emulator stopped generating and freed the slot
      yield* Effect.repeat(emulator.queue, {
        until: (queue) => queue.running === 0,
        schedule: Schedule.spaced("5 millis")
      })
      const keyed = yield* Effect.flip(resilient.execute(generate(emulator.url), { idempotencyKey: "job-1" }))
      expect(keyed).toMatchObject({ _tag: "RetriesExhausted", attempts: 2, lastError: { _tag: "AttemptTimedOut" } })
      expect((yield* emulator.stats).requests).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("fault timeline: a 503 window is waited out, a 500 is not retried for an unkeyed POST", () =>
    Effect.gen(function*() {
      // a window long enough that the first request lands in it however slow the machine
      const windowed = yield* OllamaEmulator.make({ faults: "status=503@0s-400ms", tokenLatency: "0ms" })
      const resilient = yield* client({ retry: retry(10, "40 millis") })
      const tags = yield* resilient.execute(HttpClientRequest.get(`${windowed.url}/api/tags`))
      expect(tags.status).toBe(200)
      expect((yield* windowed.stats).faults["status-503"]).toBeGreaterThanOrEqual(1)
      expect((yield* windowed.stats).responses).toMatchObject({ 200: 1 })
      const broken = yield* OllamaEmulator.make({ faults: "status=500", tokenLatency: "0ms" })
      const error = yield* Effect.flip(resilient.execute(generate(broken.url)))
      expect(error).toMatchObject({ _tag: "ServerError", status: 500, service: "ollama" })
      expect((yield* broken.stats).requests).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("fault timeline: a reset is retried for a GET and a keyed POST, not for an unkeyed POST", () =>
    Effect.gen(function*() {
      // a window long enough for the first four attempts however slow the machine; the GET outlasts it
      const emulator = yield* OllamaEmulator.make({ faults: "reset@0s-500ms", tokenLatency: "0ms" })
      const resilient = yield* client({ retry: retry(3) })
      const error = yield* Effect.flip(resilient.execute(generate(emulator.url)))
      expect(error).toMatchObject({ _tag: "ConnectionFailed", service: "ollama" })
      const keyed = yield* Effect.flip(resilient.execute(generate(emulator.url), { idempotencyKey: "k" }))
      expect(keyed).toMatchObject({ _tag: "RetriesExhausted", attempts: 3, lastError: { _tag: "ConnectionFailed" } })
      const patient = yield* client({ retry: retry(8, "50 millis") })
      const tags = yield* patient.execute(HttpClientRequest.get(`${emulator.url}/api/tags`))
      expect(tags.status).toBe(200)
      expect((yield* emulator.stats).faults.reset).toBeGreaterThanOrEqual(5)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("fault timeline: latency beyond the attempt timeout is retried for a GET until the latency window ends", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ faults: "latency=200ms@0s-100ms", tokenLatency: "0ms" })
      const resilient = yield* client({ retry: retry(5, "30 millis"), attemptTimeout: "50 millis" })
      const version = yield* resilient.execute(HttpClientRequest.get(`${emulator.url}/api/version`))
      expect(yield* version.json).toEqual({ version: "0.12.6" })
      expect((yield* emulator.stats).faults.latency).toBeGreaterThanOrEqual(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("fault timeline: wrong-content-type, truncated-json and slow-body pass the client as 200s; the body tells", () =>
    Effect.gen(function*() {
      const resilient = yield* client({ retry: retry(2), attemptTimeout: "2 seconds" })
      const html = yield* OllamaEmulator.make({ faults: "wrong-content-type" })
      const page = yield* resilient.execute(HttpClientRequest.get(`${html.url}/api/tags`))
      expect(page.headers["content-type"]).toBe("text/html; charset=utf-8")
      const cut = yield* OllamaEmulator.make({ faults: "truncated-json", tokenLatency: "0ms" })
      const truncated = yield* resilient.execute(generate(cut.url))
      expect(yield* Effect.flip(truncated.json)).toMatchObject({ _tag: "ResponseError", reason: "Decode" })
      // the attempt timeout covers the headers: a body trickled over 400 ms still arrives whole
      const hasty = yield* client({ retry: retry(3), attemptTimeout: "150 millis" })
      const slow = yield* OllamaEmulator.make({ faults: "slow-body=400ms" })
      const trickled = yield* hasty.execute(HttpClientRequest.get(`${slow.url}/api/version`))
      expect(yield* trickled.json).toEqual({ version: "0.12.6" })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})
