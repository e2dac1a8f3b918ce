import * as OllamaEmulator from "@bulwark/emulators/OllamaEmulator"
import { FetchHttpClient, HttpClient, type HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Schedule, Stream } from "effect"
import * as Ollama from "../src/Ollama.js"
import { eventually } from "./utils/clock.js"
import * as FaultWindow from "./utils/faultWindow.js"

/** Real time: small backoff, no jitter, so the tests stay fast and the counts exact. */
const client = (emulator: { readonly url: string }, options: Ollama.Options = {}) =>
  Ollama.make({
    baseUrl: emulator.url,
    ...options,
    policy: {
      ...options.policy,
      retry: { base: "10 millis", maxDelay: "40 millis", ...(options.policy?.retry || {}) }
    }
  })

const model = "llama3.2:3b"
const hello = { model, prompt: "Hello", options: { num_predict: 6 } }

/** Holds the emulator's only slot until the returned fiber's request ends (or `signal` aborts it). */
const occupy = (emulator: OllamaEmulator.Service, tokens = 4, signal?: AbortSignal) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.promise(() =>
      fetch(`${emulator.url}/api/generate`, {
        method: "POST",
        body: JSON.stringify({ model, prompt: "hold", stream: false, options: { num_predict: tokens } }),
        ...(signal === undefined ? {} : { signal })
      }).then((response) => response.status, () => "aborted" as const)
    ))
    yield* Effect.repeat(emulator.queue, {
      until: (queue) => queue.running === 1,
      schedule: Schedule.spaced("2 millis")
    })
    return fiber
  })

/** A failure's fields as a plain object: a failed match then prints them (a span's error proxy cannot be printed). */
const fields = (error: unknown) => ({ ...(error as object), _tag: (error as { _tag: string })._tag })

const text = <E>(stream: Stream.Stream<{ readonly response: string }, E>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Chunk.toReadonlyArray(chunks).map((c) => c.response).join(""))

describe("Ollama against its emulator", () => {
  it.live("no faults: every operation decodes, and a stream says what the single answer says", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ seed: 3, tokenLatency: "0ms" })
      const ollama = yield* client(emulator)
      const whole = yield* ollama.generate(hello)
      expect(whole).toMatchObject({ model, done: true, done_reason: "length", eval_count: 6 })
      const chunks = Chunk.toReadonlyArray(yield* Stream.runCollect(ollama.generateStream(hello)))
      expect(chunks.length).toBe(7)
      expect(chunks.slice(0, -1).every((chunk) => !chunk.done)).toBe(true)
      expect(chunks.at(-1)).toMatchObject({ done: true, response: "", eval_count: 6 })
      expect(chunks.map((chunk) => chunk.response).join("")).toBe(whole.response)

      const messages = [{ role: "user" as const, content: "Hi" }]
      const chat = yield* ollama.chat({ model: "qwen2.5-coder:7b", messages })
      expect(chat).toMatchObject({ done: true, message: { role: "assistant" } })
      const streamed = Chunk.toReadonlyArray(
        yield* Stream.runCollect(ollama.chatStream({ model: "qwen2.5-coder:7b", messages }))
      )
      expect(streamed.map((chunk) => chunk.message.content).join("")).toBe(chat.message.content)

      const tags = yield* ollama.tags
      expect(tags.models.map((m) => m.name)).toEqual(["llama3.2:3b", "qwen2.5-coder:7b"])
      const ps = yield* ollama.ps
      expect(ps.models.map((m) => m.name).sort()).toEqual(["llama3.2:3b", "qwen2.5-coder:7b"])
      expect(yield* ollama.version).toEqual({ version: "0.12.6" })
      const stats = yield* emulator.stats
      expect(stats.requests).toBe(7)
      expect(stats.responses["200"]).toBe(7)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a load-only request streams its single JSON object", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make()
      const ollama = yield* client(emulator)
      const chunks = yield* Stream.runCollect(ollama.generateStream({ model }))
      expect(Chunk.toReadonlyArray(chunks)).toMatchObject([{ done: true, done_reason: "load" }])
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("queue full: the 503 is retried with backoff until the slot frees", () =>
    Effect.gen(function*() {
      // the holder's 5 s generation ends when the call has met the full queue: the slot frees then, however
      // slow the machine, and the call's backoff (40 ms at most, 100 calls) outlasts the emulator noticing it
      const emulator = yield* OllamaEmulator.make({ numParallel: 1, maxQueue: 0, tokenLatency: "50ms" })
      const release = new AbortController()
      const ollama = yield* client(emulator, {
        policy: { retry: { maxAttempts: 100 } },
        transformClient: HttpClient.tap((response: HttpClientResponse.HttpClientResponse) =>
          Effect.sync(() => {
            if (response.status === 503) release.abort()
          })
        )
      })
      const holder = yield* occupy(emulator, 100, release.signal)
      const answer = yield* ollama.generate({ ...hello, options: { num_predict: 2 } })
      expect(answer.done).toBe(true)
      expect(yield* Fiber.join(holder)).toBe("aborted")
      const stats = yield* emulator.stats
      expect(stats.responses["503"]).toBeGreaterThanOrEqual(1)
      expect(stats.responses["200"]).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("queue full for good: RetriesExhausted after the seed's 4 calls, isOverloaded says so", () =>
    Effect.gen(function*() {
      // the holder keeps the slot for 4 s, far past the four calls (70 ms of backoff)
      const emulator = yield* OllamaEmulator.make({ numParallel: 1, maxQueue: 0, tokenLatency: "1s" })
      const ollama = yield* client(emulator)
      yield* occupy(emulator)
      const error = yield* Effect.flip(ollama.generate(hello))
      expect(error).toMatchObject({
        _tag: "RetriesExhausted",
        attempts: 4,
        lastError: { _tag: "Overloaded", status: 503 }
      })
      expect(Ollama.isOverloaded(error)).toBe(true)
      expect((yield* emulator.stats).responses["503"]).toBe(4)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("an unknown model is ModelNotFound with its name, at once", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make()
      const ollama = yield* client(emulator)
      const error = yield* Effect.flip(ollama.generate({ model: "mistral:7b", prompt: "Hi" }))
      expect(error).toMatchObject({
        _tag: "ModelNotFound",
        model: "mistral:7b",
        endpoint: "POST /api/generate",
        detail: "model 'mistral:7b' not found"
      })
      const streamed = yield* Effect.flip(Stream.runDrain(ollama.chatStream({ model: "mistral:7b", messages: [] })))
      expect(streamed).toMatchObject({ _tag: "ModelNotFound", model: "mistral:7b" })
      expect(Ollama.isOverloaded(error)).toBe(false)
      expect((yield* emulator.stats).requests).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a 400 is RequestRefused with Ollama's text, at once; a bad request is refused before sending", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make()
      const ollama = yield* client(emulator)
      const refused = yield* Effect.flip(ollama.generate({ model, prompt: "Hi", raw: true, system: "be brief" }))
      expect(refused).toMatchObject({
        _tag: "RequestRefused",
        status: 400,
        detail: "raw mode does not support template, system, or context"
      })
      const local = yield* Effect.flip(ollama.generate({ model, prompt: "Hi", top_logprobs: 21 }))
      expect(fields(local)).toMatchObject({
        _tag: "InvalidInput",
        service: "ollama",
        operation: "generate",
        field: "top_logprobs",
        value: "21",
        reason: "Expected a number between 0 and 20, actual 21"
      })
      const empty = yield* Effect.flip(ollama.chat({ model: "", messages: [] }))
      expect(fields(empty)).toMatchObject({ _tag: "InvalidInput", operation: "chat", field: "model", value: "\"\"" })
      expect(empty.message).toContain("model must be a non-empty name")
      expect((yield* emulator.stats).requests).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a reply slower than the timeout: AttemptTimedOut, retried (a generation changes nothing), then given up", () =>
    Effect.gen(function*() {
      // 1.5 s of generation against a 500 ms timeout, long enough for a request to reach the emulator
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "250ms", numParallel: 4 })
      const ollama = yield* client(emulator, {
        policy: { attemptTimeout: "500 millis", retry: { maxAttempts: 2 } },
        timeouts: false
      })
      const error = yield* Effect.flip(ollama.generate(hello))
      expect(error).toMatchObject({ _tag: "RetriesExhausted", attempts: 2, lastError: { _tag: "AttemptTimedOut" } })
      expect(Ollama.isOverloaded(error)).toBe(true)
      // both reached the emulator (after a stall it may read an abandoned request late)
      yield* eventually(Effect.map(emulator.stats, (stats) => stats.requests >= 2), "2 requests")
      expect((yield* emulator.stats).requests).toBe(2)
      // the per-call timeout wins over the model's
      const answer = yield* ollama.generate({ ...hello, options: { num_predict: 1 } }, { timeout: "2 seconds" })
      expect(answer.done).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("timeouts by model: byModel over the size rule over the default", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "30ms", numParallel: 4 })
      const ollama = yield* client(emulator, {
        policy: { attemptTimeout: "2 seconds", retry: { maxAttempts: 1 } },
        timeouts: { small: "20 millis", byModel: { "qwen2.5-coder:7b": "2 seconds" } }
      })
      const small = yield* Effect.flip(ollama.generate({ ...hello, options: { num_predict: 3 } }))
      expect(small).toMatchObject({ _tag: "RetriesExhausted", attempts: 1, lastError: { _tag: "AttemptTimedOut" } })
      const own = yield* ollama.generate({ model: "qwen2.5-coder:7b", prompt: "Hi", options: { num_predict: 3 } })
      expect(own.done).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("fault windows: 503 and 429 are waited out; a 500 fails at once as the seed does", () =>
    Effect.gen(function*() {
      for (const status of [503, 429]) {
        // the window lasts until the second call has its answer, however slow the machine
        const window = FaultWindow.make()
        const emulator = yield* OllamaEmulator.make({ faults: `status=${status}@0s-1s`, tokenLatency: "0ms" })
          .pipe(Effect.withClock(window.clock))
        const ollama = yield* client(emulator, {
          policy: { retry: { maxAttempts: 10, base: "25 millis" } },
          transformClient: window.skipAfter(2, "1 second")
        })
        expect((yield* ollama.generate(hello)).done).toBe(true)
        expect((yield* emulator.stats).faults[`status-${status}`]).toBe(2)
      }
      const broken = yield* OllamaEmulator.make({ faults: "status=500", tokenLatency: "0ms" })
      const ollama = yield* client(broken)
      const error = yield* Effect.flip(ollama.generate(hello))
      expect(error).toMatchObject({ _tag: "ServerError", status: 500, service: "ollama" })
      expect((yield* broken.stats).requests).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("fault windows: a reset and latency past the timeout are retried until the window ends", () =>
    Effect.gen(function*() {
      // each window lasts until a call has met its fault, however slow the machine
      const resetWindow = FaultWindow.make()
      const reset = yield* OllamaEmulator.make({ faults: "reset@0s-1s", tokenLatency: "0ms" })
        .pipe(Effect.withClock(resetWindow.clock))
      const afterReset = yield* client(reset, {
        policy: { retry: { maxAttempts: 10, base: "25 millis" } },
        transformClient: resetWindow.skipAfter(1, "1 second")
      })
      expect((yield* afterReset.generate(hello)).done).toBe(true)
      expect((yield* reset.stats).faults.reset).toBe(1)
      const slowWindow = FaultWindow.make()
      const slow = yield* OllamaEmulator.make({ faults: "latency=1s@0s-1s", tokenLatency: "0ms" })
        .pipe(Effect.withClock(slowWindow.clock))
      const afterSlow = yield* client(slow, {
        policy: { attemptTimeout: "250 millis", retry: { maxAttempts: 5, base: "20 millis" } },
        timeouts: false,
        transformClient: slowWindow.skipWhen(FaultWindow.faults(slow, "latency"), "1 second")
      })
      expect((yield* afterSlow.generate(hello)).done).toBe(true)
      expect((yield* slow.stats).faults.latency).toBeGreaterThanOrEqual(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("slow-body past the timeout: the body is read within the attempt, so it times out and is retried", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ faults: "slow-body=300ms", tokenLatency: "0ms" })
      const ollama = yield* client(emulator, {
        policy: { attemptTimeout: "100 millis", retry: { maxAttempts: 2 } },
        timeouts: false
      })
      const error = yield* Effect.flip(ollama.version)
      expect(error).toMatchObject({ _tag: "RetriesExhausted", attempts: 2, lastError: { _tag: "AttemptTimedOut" } })
      const patient = yield* client(emulator, { policy: { attemptTimeout: "2 seconds" } })
      expect(yield* patient.version).toEqual({ version: "0.12.6" })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("wrong-content-type and truncated-json are MalformedResponse with the endpoint and an excerpt", () =>
    Effect.gen(function*() {
      const html = yield* OllamaEmulator.make({ faults: "wrong-content-type" })
      const page = yield* Effect.flip((yield* client(html)).tags)
      expect(page).toMatchObject({
        _tag: "MalformedResponse",
        service: "ollama",
        endpoint: "GET /api/tags",
        status: 200
      })
      expect((page as { excerpt: string }).excerpt).toContain("Bad Gateway")
      const htmlStream = yield* Effect.flip(Stream.runDrain((yield* client(html)).generateStream(hello)))
      expect(htmlStream).toMatchObject({ _tag: "MalformedResponse", endpoint: "POST /api/generate" })
      const cut = yield* OllamaEmulator.make({ faults: "truncated-json", tokenLatency: "0ms" })
      const truncated = yield* Effect.flip((yield* client(cut)).generate(hello))
      expect(truncated).toMatchObject({ _tag: "MalformedResponse", endpoint: "POST /api/generate" })
      expect((yield* html.stats).requests + (yield* cut.stats).requests).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a stream is retried before it starts, never after: a cut stream is StreamTruncated, sent once", () =>
    Effect.gen(function*() {
      // the window lasts until the second call has its answer, however slow the machine
      const window = FaultWindow.make()
      const busy = yield* OllamaEmulator.make({ faults: "status=503@0s-1s", tokenLatency: "0ms" })
        .pipe(Effect.withClock(window.clock))
      const early = yield* client(busy, {
        policy: { retry: { maxAttempts: 10, base: "25 millis" } },
        transformClient: window.skipAfter(2, "1 second")
      })
      expect((yield* text(early.generateStream(hello))).length).toBeGreaterThan(0)
      expect((yield* busy.stats).faults["status-503"]).toBe(2)

      const cut = yield* OllamaEmulator.make({ faults: "truncated-json", tokenLatency: "0ms" })
      const late = yield* client(cut)
      const received: Array<string> = []
      const error = yield* Effect.flip(
        Stream.runForEach(late.generateStream(hello), (chunk) => Effect.sync(() => received.push(chunk.response)))
      )
      expect(error).toMatchObject({ _tag: "StreamTruncated", model, endpoint: "POST /api/generate" })
      expect((error as { chunks: number }).chunks).toBe(received.length)
      expect(received.length).toBeGreaterThan(0)
      expect((yield* cut.stats).requests).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a stream that stalls after its headers, past the read timeout, is StreamTruncated (not retried)", () =>
    Effect.gen(function*() {
      // seeded token times: the first token (and so the headers) after ~350 ms, well within 1 s;
      // the second ~1.85 s after it, well past
      const emulator = yield* OllamaEmulator.make({ seed: 7, tokenLatency: "0ms..2000ms" })
      const ollama = yield* client(emulator, { timeouts: false, policy: { attemptTimeout: "1 second" } })
      const received: Array<string> = []
      const error = yield* Effect.flip(
        Stream.runForEach(ollama.generateStream(hello), (chunk) => Effect.sync(() => received.push(chunk.response)))
      )
      expect(fields(error)).toMatchObject({ _tag: "StreamTruncated", detail: "no data within the read timeout" })
      expect(received.length).toBeGreaterThan(0)
      expect((error as { chunks: number }).chunks).toBe(received.length)
      expect((yield* emulator.stats).requests).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a server that is not there: ConnectionFailed retried, not overload", () =>
    Effect.gen(function*() {
      const gone = yield* Effect.scoped(Effect.map(OllamaEmulator.make(), (emulator) => emulator.url))
      const ollama = yield* client({ url: gone }, { policy: { retry: { maxAttempts: 2 } } })
      const error = yield* Effect.flip(ollama.version)
      expect(error).toMatchObject({ _tag: "RetriesExhausted", attempts: 2, lastError: { _tag: "ConnectionFailed" } })
      expect(Ollama.isOverloaded(error)).toBe(false)
      expect(yield* ollama.waitForCapacity({ timeout: "60 millis", interval: "20 millis" })).toBe(false)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.live("waitForCapacity: true once /api/ps answers, false while too many models are loaded", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "0ms" })
      const ollama = yield* client(emulator)
      expect(yield* ollama.waitForCapacity({ timeout: "3 seconds", maxLoaded: 1 })).toBe(true)
      yield* ollama.generate(hello)
      expect(yield* ollama.waitForCapacity({ timeout: "80 millis", interval: "20 millis", maxLoaded: 1 })).toBe(false)
      expect(yield* ollama.waitForCapacity({ timeout: "3 seconds", maxLoaded: 2 })).toBe(true)
      expect((yield* emulator.stats).requests).toBeGreaterThanOrEqual(4)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})
