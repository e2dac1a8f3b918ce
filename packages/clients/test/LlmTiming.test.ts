import * as OpenAiEmulator from "@bulwark/emulators/OpenAiEmulator"
import { FetchHttpClient, HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Fiber, Redacted, Stream, TestClock } from "effect"
import * as Llm from "../src/Llm.js"
import { delays } from "./utils/backoff.js"
import { eventually, sleepRegistered } from "./utils/clock.js"

const hello = { messages: [{ role: "user", content: "Say hello" }] } as const

const fields = (error: unknown) => ({ ...(error as object), _tag: (error as { _tag: string })._tag })

describe("Llm defaults: seed 001's numbers on the built policy", () => {
  it.effect("5 attempts, 1 s doubling to 60 s with full jitter, 30 s per attempt, 100 ms spacing", () =>
    Effect.gen(function*() {
      const llm = yield* Llm.make({ baseUrl: "http://127.0.0.1:9/v1" })
      const { attemptTimeout, rateLimiter, retry } = llm.policy.layers
      expect(retry?.maxAttempts).toBe(5)
      expect(retry?.retryAfter).toBe("floor")
      expect(attemptTimeout?.after).toEqual(Duration.seconds(30))
      expect(rateLimiter).toBeDefined()
      const samples = yield* Effect.forEach(
        Array.from({ length: 200 }, (_, seed) => seed),
        (seed) => delays(llm.policy, 9, seed)
      )
      for (let n = 0; n < 9; n++) {
        const cap = Math.min(60_000, 1000 * 2 ** n)
        const at = samples.map((drawn) => drawn[n]!)
        // full jitter: anywhere in [0, min(60 s, 1 s × 2^n)), so spread over the whole range
        for (const delay of at) expect(delay, `delay ${n}`).toBeLessThan(cap)
        expect(Math.min(...at), `delay ${n}`).toBeGreaterThanOrEqual(0)
        expect(Math.max(...at), `delay ${n}`).toBeGreaterThan(cap * 0.9)
        expect(Math.min(...at), `delay ${n}`).toBeLessThan(cap * 0.1)
      }
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  // TestClock drives the limiter's spacing; the emulator answers at once.
  it.scoped("the default spacing: requests start exactly 100 ms apart", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({})
      const sent: Array<number> = []
      const llm = yield* Llm.make({
        baseUrl: `${emulator.url}/v1`,
        transformClient: HttpClient.tapRequest(() =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => sent.push(now)))
        )
      })
      const calls = yield* Effect.fork(
        Effect.all(Array.from({ length: 4 }, () => llm.create(hello)), { concurrency: "unbounded" })
      )
      for (const wait of [100, 200, 300]) yield* sleepRegistered(wait)
      for (let n = 1; n < 4; n++) {
        yield* eventually(Effect.sync(() => sent.length === n), `request ${n}`)
        yield* TestClock.adjust(100)
      }
      expect((yield* Fiber.join(calls)).length).toBe(4)
      expect(sent).toEqual([0, 100, 200, 300])
      expect((yield* emulator.stats).maxConcurrency).toBe(1)
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})

describe("Llm refuses bad options, typed", () => {
  it.effect("an apiKey that is not Redacted is refused at make, without echoing it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Llm.make({ apiKey: "sk-plain-secret" as any }))
      expect(error).toMatchObject({ _tag: "InvalidPolicy", policy: "llm", field: "apiKey" })
      expect(error.message).not.toContain("sk-plain-secret")
      expect(error.message).toContain("Redacted")
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("a per-call timeout that is no duration > 0 is InvalidInput naming timeout, nothing sent", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({})
      const llm = yield* Llm.make({ baseUrl: `${emulator.url}/v1`, apiKey: Redacted.make("sk-test") })
      for (const timeout of ["soon", 0, -1, "-2 seconds"] as Array<any>) {
        expect(fields(yield* Effect.flip(llm.create(hello, { timeout }))), String(timeout)).toMatchObject({
          _tag: "InvalidInput",
          service: "llm",
          operation: "create",
          field: "timeout"
        })
        expect(fields(yield* Effect.flip(Stream.runDrain(llm.stream(hello, { timeout }))))).toMatchObject({
          _tag: "InvalidInput",
          operation: "stream",
          field: "timeout"
        })
      }
      expect((yield* emulator.stats).requests).toBe(0)
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})

describe("Llm streams that stall after their headers", () => {
  const policy = { retry: { maxAttempts: 1 }, rateLimiter: false, attemptTimeout: "1 second" } as const

  it.live("no event within the attempt timeout: StreamFailed with the chunks received, sent once", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ tokenLatency: "400ms" })
      const llm = yield* Llm.make({
        baseUrl: `${emulator.url}/v1`,
        policy: { ...policy, attemptTimeout: "100 millis" }
      })
      const seen: Array<string> = []
      const error = yield* Effect.flip(
        Stream.runForEach(llm.stream(hello), (chunk) => Effect.sync(() => seen.push(chunk.id)))
      )
      expect(fields(error)).toMatchObject({ _tag: "StreamFailed", service: "llm", endpoint: "POST /chat/completions" })
      expect((error as { detail: string }).detail).toContain("stalled")
      expect((error as { chunks: number }).chunks).toBe(seen.length)
      expect((yield* emulator.stats).requests).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("the per-call timeout bounds each wait, not the whole stream", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ tokenLatency: "30ms", seed: 3 })
      const llm = yield* Llm.make({ baseUrl: `${emulator.url}/v1`, policy })
      const chunks = Chunk.toReadonlyArray(yield* Stream.runCollect(llm.stream(hello, { timeout: "250 millis" })))
      // more than 250 ms in all: only the silence between two events is bounded
      expect(chunks.length * 30).toBeGreaterThan(250)
      const stalled = yield* OpenAiEmulator.make({ tokenLatency: "400ms" })
      const slow = yield* Llm.make({ baseUrl: `${stalled.url}/v1`, policy })
      const error = yield* Effect.flip(Stream.runDrain(slow.stream(hello, { timeout: "100 millis" })))
      expect(fields(error)).toMatchObject({ _tag: "StreamFailed" })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})
