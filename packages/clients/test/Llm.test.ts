import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as OllamaEmulator from "@bulwark/emulators/OllamaEmulator"
import * as OpenAiEmulator from "@bulwark/emulators/OpenAiEmulator"
import { FetchHttpClient, HttpClient, type HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Effect, Logger, LogLevel, Option, Redacted, Stream } from "effect"
import * as Llm from "../src/Llm.js"
import * as FaultWindow from "./utils/faultWindow.js"

const hello = { messages: [{ role: "user", content: "Say hello" }] } as const

/**
 * Real sockets and real sleeps: tiny backoff and spacing, so only server hints make a test wait; an attempt
 * timeout no healthy answer reaches on a loaded machine (a retried attempt would change the request counts).
 */
const fast = {
  retry: { maxAttempts: 4, base: "1 millis", maxDelay: "5 millis", jitter: "none", retryAfter: "floor" },
  rateLimiter: { spacing: "1 millis" },
  attemptTimeout: "3 seconds",
  totalTimeout: "5 seconds",
  circuitBreaker: false
} as const

const client = (emulator: { readonly url: string }, options: Llm.Options = {}) =>
  Llm.make({ baseUrl: `${emulator.url}/v1`, apiKey: Redacted.make("sk-test"), policy: fast, ...options })

const timed = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const result = yield* Effect.either(self)
    return { result, elapsed: (yield* Clock.currentTimeMillis) - start }
  })

/** Records the `retry-after-ms` of every failed answer: the wait the client was asked to honour. */
const hinted = (hints: Array<number>) =>
  HttpClient.tap((response: HttpClientResponse.HttpClientResponse) =>
    Effect.sync(() => {
      const ms = response.headers["retry-after-ms"]
      if (response.status >= 400 && ms !== undefined) hints.push(Number(ms))
    })
  )

const live = <A, E>(name: string, self: () => Effect.Effect<A, E, any>) =>
  it.live(name, () => self().pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)) as Effect.Effect<A, E>)

describe("Llm against the OpenAI emulator", () => {
  live(
    "no faults: a JSON completion decodes, the request is right, the budget is reported",
    () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({ apiKey: "sk-test", seed: 3 })
        const llm = yield* client(emulator, { model: "gpt-4o" })
        expect(yield* llm.rateLimits).toEqual(Option.none())
        const completion = yield* llm.create(hello)
        expect(completion.object).toBe("chat.completion")
        expect(completion.model).toBe("gpt-4o")
        expect(completion.choices[0]!.message.content).toMatch(/\w+/)
        expect(completion.choices[0]!.finish_reason).toBe("stop")
        expect(completion.usage!.total_tokens).toBeGreaterThan(0)
        expect(yield* emulator.requests).toMatchObject([{ status: 200, model: "gpt-4o", stream: false }])
        const limits = Option.getOrThrow(yield* llm.rateLimits)
        expect(limits.requests).toMatchObject({ limit: 500, remaining: 499 })
        expect(limits.tokens!.limit).toBe(200_000)
        expect(limits.tokens!.remaining).toBeLessThan(200_000)
        expect(limits.requests!.resetAt).toBeGreaterThanOrEqual(limits.observedAt)
      })
  )

  live(
    "no faults: a stream decodes role, content and finish chunks, then ends at [DONE]",
    () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({ apiKey: "sk-test", seed: 3 })
        const llm = yield* client(emulator)
        const chunks = Chunk.toReadonlyArray(
          yield* Stream.runCollect(llm.stream({ ...hello, stream_options: { include_usage: true } }))
        )
        expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant")
        const text = chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? "")).join("")
        const json = yield* llm.create(hello)
        expect(text).toBe(json.choices[0]!.message.content)
        expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe("stop")
        expect(chunks.at(-1)!.choices).toEqual([])
        expect(chunks.at(-1)!.usage!.completion_tokens).toBeGreaterThan(0)
        expect((yield* emulator.requests).map((seen) => seen.stream)).toEqual([true, false])
      })
  )

  live("a requests 429 waits the retry-after-ms, then succeeds", () =>
    Effect.gen(function*() {
      // the emulator's clock stands still until the 429 is answered, then moves past the refill: the second
      // request meets the bucket empty (a 300 ms hint) however slow the machine, and the retry finds it full
      const window = FaultWindow.make()
      const emulator = yield* OpenAiEmulator.make({ requestsPerMinute: 1, window: "300 millis" })
        .pipe(Effect.withClock(window.clock))
      const hints: Array<number> = []
      const llm = yield* client(emulator, {
        transformClient: (http) => window.skipAfter(2, "1 second")(hinted(hints)(http))
      })
      yield* llm.create(hello)
      const { elapsed, result } = yield* timed(llm.create(hello))
      expect(result._tag).toBe("Right")
      expect((yield* emulator.stats).responses).toEqual({ 200: 2, 429: 1 })
      expect(hints).toEqual([300])
      // the wait was the hint, not the 1 ms backoff (1 ms of clock rounding)
      expect(elapsed).toBeGreaterThanOrEqual(299)
    }))

  live(
    "a tokens 429 with tokens left and no retry-after: the body's wait (≤ the bucket reset) is honoured",
    () =>
      Effect.gen(function*() {
        // 40 tokens refilled over 20 s, 2 a second. The emulator's clock stands still until the 429 is
        // answered (then moves past the refill), so the second request lacks exactly what the first took
        // beyond the half: a wait of (40 - 2 × left) × 500 ms, far less than the ~10 s until the bucket is
        // full (x-ratelimit-reset-tokens), which would pass the 5 s deadline and give up at once
        const window = FaultWindow.make()
        const emulator = yield* OpenAiEmulator.make({ tokensPerMinute: 40, window: "20 seconds", retryHints: "none" })
          .pipe(Effect.withClock(window.clock))
        const llm = yield* client(emulator, { transformClient: window.skipAfter(2, "20 seconds") })
        const small = { ...hello, max_completion_tokens: 12 }
        yield* llm.create(small)
        const left = Option.getOrThrow(yield* llm.rateLimits).tokens!.remaining!
        expect(left).toBeGreaterThan(0)
        const { elapsed, result } = yield* timed(llm.create(small))
        expect(result._tag).toBe("Right")
        expect(elapsed).toBeGreaterThanOrEqual((40 - 2 * left) * 500 - 1)
        expect((yield* emulator.stats).responses).toEqual({ 200: 2, 429: 1 })
      })
  )

  live("insufficient_quota and Request too large fail at once, typed, after one request", () =>
    Effect.gen(function*() {
      const broke = yield* OpenAiEmulator.make({ quota: 0 })
      const error = yield* Effect.flip((yield* client(broke)).create(hello))
      expect(error).toMatchObject({ _tag: "QuotaExceeded", status: 429, code: "insufficient_quota", service: "llm" })
      expect(error.message).toContain("quota exceeded")
      expect((yield* broke.stats).requests).toBe(1)

      const tiny = yield* OpenAiEmulator.make({ tokensPerMinute: 5 })
      expect(yield* Effect.flip((yield* client(tiny)).create(hello))).toMatchObject({
        _tag: "RequestTooLarge",
        status: 429
      })
      expect((yield* tiny.stats).requests).toBe(1)
    }))

  live(
    "400, 401 and 404 are typed refusals, not retried; bad input never leaves the process",
    () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({ apiKey: "sk-test" })
        const llm = yield* client(emulator)
        const long = yield* Effect.flip(llm.create({ messages: [{ role: "user", content: "word ".repeat(120_000) }] }))
        expect(long).toMatchObject({ _tag: "BadRequest", status: 400, code: "context_length_exceeded" })
        const wrongKey = yield* client(emulator, { apiKey: Redacted.make("sk-wrong-wrong-wrong") })
        expect(yield* Effect.flip(wrongKey.create(hello))).toMatchObject({
          _tag: "AuthenticationFailed",
          service: "llm",
          endpoint: "POST /chat/completions",
          status: 401,
          credential: "api-key",
          code: "invalid_api_key"
        })
        const missing = yield* Effect.flip(llm.create({ ...hello, model: "gpt-0" }))
        expect(missing).toMatchObject({ _tag: "NotFound", status: 404, code: "model_not_found" })
        expect((missing as { requestId?: string }).requestId).toMatch(/^req_/)
        expect((yield* emulator.stats).requests).toBe(3)

        const local = yield* Effect.flip(llm.create({ ...hello, temperature: 9 }))
        expect(local).toMatchObject({
          _tag: "InvalidInput",
          service: "llm",
          operation: "create",
          field: "temperature",
          value: "9"
        })
        expect(local.message).toContain("temperature")
        expect((yield* emulator.stats).requests).toBe(3)
      })
  )

  live("a 503 window: retried after the window's retry-after-ms, then succeeds", () =>
    Effect.gen(function*() {
      // the emulator's clock stands still until the first answer: it lands in the window however slow the
      // machine, its hint is the whole window, and the retry finds the window over
      const window = FaultWindow.make()
      const emulator = yield* OpenAiEmulator.make({ faults: "status=503@0ms-300ms" }).pipe(
        Effect.withClock(window.clock)
      )
      const hints: Array<number> = []
      const llm = yield* client(emulator, {
        transformClient: (http) => window.skipAfter(1, "1 second")(hinted(hints)(http))
      })
      const { elapsed, result } = yield* timed(llm.create(hello))
      expect(result._tag).toBe("Right")
      expect(hints).toEqual([300])
      // the hinted wait was honoured (1 ms of clock rounding)
      expect(elapsed).toBeGreaterThanOrEqual(299)
      const stats = yield* emulator.stats
      expect(stats.responses[200]).toBe(1)
      expect(stats.faults["status-503"]).toBe(1)
      expect(stats.requests).toBe(2)
    }))

  live("a 503 that outlasts the attempts: RetriesExhausted with the last Unavailable", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ faults: "status=503" })
      const error = yield* Effect.flip((yield* client(emulator)).create(hello))
      expect(error).toMatchObject({ _tag: "RetriesExhausted", attempts: 4, lastError: { _tag: "Unavailable" } })
      expect((yield* emulator.stats).requests).toBe(4)
    }))

  live(
    "a reset is retried (a completion is safe to repeat); with retryAmbiguous: false it is not",
    () =>
      Effect.gen(function*() {
        // the window lasts until the first attempt has ended, however slow the machine
        const window = FaultWindow.make()
        const emulator = yield* OpenAiEmulator.make({ faults: "reset@0ms-1s" }).pipe(Effect.withClock(window.clock))
        const llm = yield* client(emulator, { transformClient: window.skipAfter(1, "1 second") })
        expect((yield* llm.create(hello)).object).toBe("chat.completion")
        expect((yield* emulator.stats).faults.reset).toBe(1)

        const always = yield* OpenAiEmulator.make({ faults: "reset" })
        const strict = yield* client(always, { retryAmbiguous: false })
        expect(yield* Effect.flip(strict.create(hello))).toMatchObject({ _tag: "ConnectionFailed" })
        expect((yield* always.stats).requests).toBe(1)
      })
  )

  live(
    "latency beyond the attempt timeout: each attempt times out, then the retry succeeds",
    () =>
      Effect.gen(function*() {
        // the window lasts until an attempt has met the latency and timed out, however slow the machine
        const window = FaultWindow.make()
        const emulator = yield* OpenAiEmulator.make({ faults: "latency=1s@0ms-1s" }).pipe(
          Effect.withClock(window.clock)
        )
        const llm = yield* client(emulator, {
          policy: { ...fast, attemptTimeout: "400 millis" },
          transformClient: window.skipWhen(FaultWindow.faults(emulator, "latency"), "1 second")
        })
        expect((yield* llm.create(hello)).object).toBe("chat.completion")
        expect((yield* emulator.stats).faults.latency).toBeGreaterThanOrEqual(1)

        const slow = yield* OpenAiEmulator.make({ faults: "latency=300ms" })
        const patient = yield* client(slow, { policy: { ...fast, retry: { ...fast.retry, maxAttempts: 2 } } })
        // the per-call timeout replaces the policy's 3 s
        const error = yield* Effect.flip(patient.create(hello, { timeout: "50 millis" }))
        expect(error).toMatchObject({ _tag: "RetriesExhausted", attempts: 2, lastError: { _tag: "AttemptTimedOut" } })
      })
  )

  live("a slow body counts against the attempt timeout of a JSON call", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ faults: "slow-body=400ms" })
      const llm = yield* client(emulator, {
        policy: { ...fast, retry: { ...fast.retry, maxAttempts: 2 }, attemptTimeout: "100 millis" }
      })
      const error = yield* Effect.flip(llm.create(hello))
      expect(error).toMatchObject({ _tag: "RetriesExhausted", attempts: 2, lastError: { _tag: "AttemptTimedOut" } })
    }))

  live(
    "wrong-content-type and truncated-json are MalformedResponse, for JSON and streams",
    () =>
      Effect.gen(function*() {
        const html = yield* OpenAiEmulator.make({ faults: "wrong-content-type" })
        const llm = yield* client(html)
        const json = yield* Effect.flip(llm.create(hello))
        expect(json).toMatchObject({ _tag: "MalformedResponse", service: "llm", endpoint: "POST /chat/completions" })
        expect((json as { excerpt: string }).excerpt).toContain("Bad Gateway")
        const stream = yield* Effect.flip(Stream.runDrain(llm.stream(hello)))
        expect(stream).toMatchObject({
          _tag: "MalformedResponse",
          reason: expect.stringContaining("text/event-stream")
        })
        expect((yield* html.stats).requests).toBe(2)

        const cut = yield* OpenAiEmulator.make({ faults: "truncated-json" })
        const truncated = yield* client(cut)
        expect(yield* Effect.flip(truncated.create(hello))).toMatchObject({
          _tag: "MalformedResponse",
          status: 200,
          reason: expect.stringContaining("not JSON")
        })
        expect(yield* Effect.flip(Stream.runDrain(truncated.stream(hello)))).toMatchObject({
          _tag: "MalformedResponse",
          reason: "the stream ended without data: [DONE]"
        })
        expect((yield* cut.stats).requests).toBe(2)
      })
  )

  live("an error event mid-stream is StreamFailed, after the chunks before it", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ midStreamError: 1 })
      const llm = yield* client(emulator)
      const seen: Array<string> = []
      const error = yield* Effect.flip(
        Stream.runForEach(llm.stream(hello), (chunk) => Effect.sync(() => seen.push(chunk.id)))
      )
      expect(error).toMatchObject({ _tag: "StreamFailed", service: "llm", endpoint: "POST /chat/completions" })
      expect(seen.length).toBeGreaterThan(0)
      expect((error as { chunks?: number }).chunks).toBe(seen.length)
      expect((yield* emulator.stats).requests).toBe(1)
    }))

  // the default spacing (exactly 100 ms between requests): LlmTiming.test.ts, on the TestClock

  live("the API key is in no log line and no error", () =>
    Effect.gen(function*() {
      const secret = "sk-live-0123456789abcdef-SECRET"
      const lines: Array<string> = []
      const capture = Logger.make(({ annotations, message }) => {
        lines.push(JSON.stringify({ message, annotations: [...annotations] }))
      })
      // the window lasts until the first answer, however slow the machine: a 503 (retried, logged), then the 401
      const window = FaultWindow.make()
      const emulator = yield* OpenAiEmulator.make({ apiKey: "sk-other", faults: "status=503@0ms-100ms" })
        .pipe(Effect.withClock(window.clock))
      const llm = yield* client(emulator, {
        apiKey: Redacted.make(secret),
        transformClient: window.skipAfter(1, "1 second")
      })
      const error = yield* Effect.flip(llm.create(hello)).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, capture))
      )
      expect(error._tag).toBe("AuthenticationFailed")
      expect(lines.some((line) => line.includes("503") || line.includes("Unavailable"))).toBe(true)
      for (const line of lines) expect(line).not.toContain(secret)
      expect(error.message).not.toContain(secret)
      expect(JSON.stringify(error)).not.toContain(secret)
      expect(String(error)).not.toContain(secret)
    }))
})

describe("Llm against Ollama's /v1", () => {
  live(
    "a JSON completion decodes; no rate-limit headers, so no budget; a stream is refused, typed",
    () =>
      Effect.gen(function*() {
        const ollama = yield* OllamaEmulator.make({})
        const llm = yield* Llm.make({ baseUrl: `${ollama.url}/v1`, model: "llama3.2:3b", policy: fast })
        const completion = yield* llm.create(hello)
        expect(completion).toMatchObject({ object: "chat.completion", model: "llama3.2:3b" })
        expect(completion.choices[0]!.message.content).toMatch(/\w/)
        expect(yield* llm.rateLimits).toEqual(Option.none())
        expect(yield* Effect.flip(llm.create({ ...hello, model: "llama9" }))).toMatchObject({
          _tag: "NotFound",
          status: 404
        })
        expect(yield* Effect.flip(Stream.runDrain(llm.stream(hello)))).toMatchObject({
          _tag: "BadRequest",
          status: 400
        })
      })
  )
})

describe("Llm's default breaker counts outages, not rate limits", () => {
  const storm = (faults: string) =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ apiKey: "sk-test", seed: 3, faults })
      // the default breaker's own isFailure, opening after 2 failures instead of 5
      const llm = yield* client(emulator, {
        policy: {
          ...fast,
          retry: { ...fast.retry, maxAttempts: 1 },
          retryAfterGate: false,
          circuitBreaker: { trip: CircuitBreaker.consecutiveFailures(2), openDuration: "1 minute" }
        }
      })
      const tags: Array<string> = []
      for (let i = 0; i < 4; i++) {
        const outcome = yield* llm.create(hello).pipe(Effect.flip, Effect.option)
        // what the one attempt met: a failure RetriesExhausted wraps, or the breaker's refusal
        tags.push(Option.match(outcome, {
          onNone: () => "ok",
          onSome: (e) => e._tag === "RetriesExhausted" ? (e.lastError as { _tag: string })._tag : e._tag
        }))
      }
      return tags
    }).pipe(Logger.withMinimumLogLevel(LogLevel.None))

  live("a 429 storm leaves it closed: every call reaches the server", () =>
    Effect.gen(function*() {
      expect(yield* storm("status=429")).toEqual(["RateLimited", "RateLimited", "RateLimited", "RateLimited"])
    }))

  live("a 503 storm opens it after two failures", () =>
    Effect.gen(function*() {
      const tags = yield* storm("status=503")
      expect(tags.slice(0, 2)).not.toContain("CircuitOpen")
      expect(tags.slice(2)).toEqual(["CircuitOpen", "CircuitOpen"])
    }))
})
