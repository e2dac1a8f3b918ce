import { type Errors, Retry, Timeout } from "@bulwark/core"
import * as HttpFailures from "@bulwark/http/HttpFailures"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Fiber, TestClock } from "effect"
import * as OllamaEmulator from "../src/OllamaEmulator.js"
import { elapse, pollUntil } from "./utils/testClock.js"

/** Small backoffs: some tests sleep for real. */
const retry = (maxAttempts: number, base: Duration.DurationInput = "10 millis") =>
  ({ maxAttempts, base, jitter: "none" }) as const

const client = (policy: ResilientClient.Options["policy"]) =>
  ResilientClient.make({ service: "ollama", policy, classify: { isOverloaded: HttpFailures.isOllamaBusy } })

const generate = (url: string, body: Record<string, unknown> = {}) =>
  HttpClientRequest.post(`${url}/api/generate`).pipe(
    HttpClientRequest.bodyUnsafeJson({ model: "llama3.2:3b", prompt: "hi", stream: false, ...body })
  )

/**
 * Takes the only slot with a request that loads the model (cold: it waits the emulator's `loadTime`), and
 * waits until it runs: on the TestClock, it keeps the slot until the test moves the clock past the load,
 * however slow the machine.
 */
const occupy = (emulator: OllamaEmulator.Service) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.promise(() =>
      fetch(`${emulator.url}/api/generate`, {
        method: "POST",
        body: JSON.stringify({ model: "llama3.2:3b", prompt: "hold", stream: false, options: { num_predict: 5 } })
      }).then((response) => response.status)
    ))
    yield* pollUntil(emulator.queue, (queue) => queue.running === 1)
    return fiber
  })

// The tests on the TestClock: no time passes between requests until the test moves the clock on, and the
// waits (the client's backoff and timeouts, the emulator's load and latency) are read off the clock.
describe("OllamaEmulator with ResilientClient", () => {
  it.scoped("a full queue's 503 is retried with backoff until the slot frees", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({
        loadTime: "100ms",
        tokenLatency: "0ms",
        numParallel: 1,
        maxQueue: 0
      })
      const holder = yield* occupy(emulator)
      const resilient = yield* client({ retry: retry(20, "20 millis") })
      // an unkeyed POST is retried after a 503: the server said it did not take it
      const response = yield* Effect.fork(resilient.execute(generate(emulator.url, { options: { num_predict: 2 } })))
      // 503 at 0, 20 and 60 ms; the slot frees at 100 ms, before the retry at 140 ms
      yield* elapse(20)
      yield* elapse(40)
      yield* elapse(80)
      const answer = yield* Fiber.join(response)
      expect(answer.status).toBe(200)
      expect((yield* answer.json) as object).toMatchObject({ done: true })
      expect(yield* Fiber.join(holder)).toBe(200)
      const stats = yield* emulator.stats
      expect(stats.responses).toEqual({ 200: 2, 503: 3 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("when the queue stays full it gives up with the Overloaded 503, the service and the attempts", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ loadTime: "1s", tokenLatency: "0ms", numParallel: 1, maxQueue: 0 })
      yield* occupy(emulator)
      const resilient = yield* client({ retry: retry(3) })
      const failed = yield* Effect.fork(Effect.flip(resilient.execute(generate(emulator.url))))
      yield* elapse(10)
      yield* elapse(20)
      const error = yield* Fiber.join(failed)
      expect(error).toBeInstanceOf(Retry.RetriesExhausted)
      expect(error).toMatchObject({
        attempts: 3,
        lastError: { _tag: "Overloaded", service: "ollama", status: 503 }
      })
      expect((error as Retry.RetriesExhausted<Errors.Overloaded>).lastError.detail).toContain("server busy")
      expect((yield* emulator.stats).responses["503"]).toBe(3)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.live("an unknown model's 404 is not retried; the error carries Ollama's text", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "0ms" })
      const resilient = yield* client({ retry: retry(3) })
      const error = yield* Effect.flip(resilient.execute(generate(emulator.url, { model: "mistral:7b" })))
      expect(error).toMatchObject({ _tag: "HttpRejected", service: "ollama", status: 404 })
      expect((error as HttpFailures.HttpRejected).excerpt).toBe("{\"error\":\"model 'mistral:7b' not found\"}")
      expect((yield* emulator.stats).requests).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.scoped("a reply slower than the attempt timeout: AttemptTimedOut, an unkeyed POST is not retried, a keyed one is", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "400ms", numParallel: 2 })
      const resilient = yield* client({ retry: retry(2), attemptTimeout: "200 millis" })
      /** Times the attempt out once the emulator has read the `count`th request (unread, it would not count). */
      const timeOut = (count: number) =>
        Effect.zipRight(
          pollUntil(emulator.stats, (stats) => stats.requests === count),
          TestClock.adjust("200 millis")
        )
      const unkeyed = yield* Effect.fork(Effect.flip(resilient.execute(generate(emulator.url))))
      yield* timeOut(1)
      const error = yield* Fiber.join(unkeyed)
      expect(error).toBeInstanceOf(Timeout.AttemptTimedOut)
      expect(error).toMatchObject({ service: "ollama" })
      expect((yield* emulator.stats).requests).toBe(1)
      // the client went away: the emulator stopped generating and freed the slot
      yield* pollUntil(emulator.queue, (queue) => queue.running === 0)
      const keyed = yield* Effect.fork(
        Effect.flip(resilient.execute(generate(emulator.url), { idempotencyKey: "job-1" }))
      )
      yield* timeOut(2)
      yield* elapse(10)
      yield* timeOut(3)
      expect(yield* Fiber.join(keyed)).toMatchObject({
        _tag: "RetriesExhausted",
        attempts: 2,
        lastError: { _tag: "AttemptTimedOut" }
      })
      expect((yield* emulator.stats).requests).toBe(3)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("fault timeline: a 503 window is waited out, a 500 is not retried for an unkeyed POST", () =>
    Effect.gen(function*() {
      const windowed = yield* OllamaEmulator.make({ faults: "status=503@0s-400ms", tokenLatency: "0ms" })
      const resilient = yield* client({ retry: retry(10, "40 millis") })
      const tags = yield* Effect.fork(resilient.execute(HttpClientRequest.get(`${windowed.url}/api/tags`)))
      // Ollama's 503 has no hint: the backoff, the fifth attempt (at 600 ms) past the window
      for (const backoff of [40, 80, 160, 320]) yield* elapse(backoff)
      expect((yield* Fiber.join(tags)).status).toBe(200)
      expect((yield* windowed.stats).faults).toEqual({ "status-503": 4 })
      expect((yield* windowed.stats).responses).toEqual({ 200: 1, 503: 4 })
      const broken = yield* OllamaEmulator.make({ faults: "status=500", tokenLatency: "0ms" })
      const error = yield* Effect.flip(resilient.execute(generate(broken.url)))
      expect(error).toMatchObject({ _tag: "ServerError", status: 500, service: "ollama" })
      expect((yield* broken.stats).requests).toBe(1)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("fault timeline: a reset is retried for a GET and a keyed POST, not for an unkeyed POST", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ faults: "reset@0s-500ms", tokenLatency: "0ms" })
      const resilient = yield* client({ retry: retry(3) })
      const error = yield* Effect.flip(resilient.execute(generate(emulator.url)))
      expect(error).toMatchObject({ _tag: "ConnectionFailed", service: "ollama" })
      const keyed = yield* Effect.fork(Effect.flip(resilient.execute(generate(emulator.url), { idempotencyKey: "k" })))
      yield* elapse(10)
      yield* elapse(20)
      expect(yield* Fiber.join(keyed)).toMatchObject({
        _tag: "RetriesExhausted",
        attempts: 3,
        lastError: { _tag: "ConnectionFailed" }
      })
      const patient = yield* client({ retry: retry(8, "50 millis") })
      const tags = yield* Effect.fork(patient.execute(HttpClientRequest.get(`${emulator.url}/api/tags`)))
      // from 30 ms on, reset at 30, 80, 180 and 380 ms; the retry at 780 ms is past the window
      for (const backoff of [50, 100, 200, 400]) yield* elapse(backoff)
      expect((yield* Fiber.join(tags)).status).toBe(200)
      expect((yield* emulator.stats).faults).toEqual({ reset: 1 + 3 + 4 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("fault timeline: latency beyond the attempt timeout is retried for a GET until the latency window ends", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ faults: "latency=200ms@0s-100ms", tokenLatency: "0ms" })
      const resilient = yield* client({ retry: retry(5, "30 millis"), attemptTimeout: "50 millis" })
      const version = yield* Effect.fork(resilient.execute(HttpClientRequest.get(`${emulator.url}/api/version`)))
      // delayed at 0 and 80 ms, each timed out after 50 ms (once the emulator has read it: unread, it would
      // not be counted); the retry at 190 ms is past the window
      for (const [count, backoff] of [[1, 30], [2, 60]]) {
        yield* pollUntil(emulator.stats, (stats) => stats.faults.latency === count)
        yield* TestClock.adjust("50 millis")
        yield* elapse(backoff!)
      }
      expect(yield* (yield* Fiber.join(version)).json).toEqual({ version: "0.12.6" })
      expect((yield* emulator.stats).faults).toEqual({ latency: 2 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

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
