import * as OllamaEmulator from "@bulwark/emulators/OllamaEmulator"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream, TestClock } from "effect"
import * as Ollama from "../src/Ollama.js"
import { eventually, realSleep, sleepRegistered } from "./utils/clock.js"

const model = "llama3.2:3b"
const hello = { model, prompt: "Hello", options: { num_predict: 2 } }

const fields = (error: unknown) => ({ ...(error as object), _tag: (error as { _tag: string })._tag })

// TestClock drives the client's backoff and the emulator's fault window: they share the test's Clock.
describe("Ollama on the TestClock", () => {
  it.scoped("the seed's numbers: 503 three times, then success, after exactly 2 s, 4 s and 8 s", () =>
    Effect.gen(function*() {
      // requests at 0, 2, 6 and 14 s: the first three inside the window, the last after it
      const emulator = yield* OllamaEmulator.make({ faults: "status=503@0s-13s", tokenLatency: "0ms" })
      const ollama = yield* Ollama.make({ baseUrl: emulator.url })
      const requests = Effect.map(emulator.stats, (stats) => stats.requests)
      const call = yield* Effect.fork(ollama.generate(hello))
      for (const [n, wait] of [[1, 2000], [2, 4000], [3, 8000]] as const) {
        yield* sleepRegistered(wait)
        expect(yield* requests).toBe(n)
        yield* TestClock.adjust(wait - 1)
        yield* realSleep(20)
        expect(yield* requests, `no retry before ${wait} ms`).toBe(n)
        yield* TestClock.adjust(1)
        yield* eventually(Effect.map(requests, (count) => count === n + 1), `request ${n + 1}`)
      }
      expect((yield* Fiber.join(call)).done).toBe(true)
      expect(yield* TestClock.currentTimeMillis).toBe(14_000)
      expect((yield* emulator.stats).responses).toEqual({ 200: 1, 503: 3 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("after the 4th 503 the seed gives up: RetriesExhausted, 4 calls", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ faults: "status=503", tokenLatency: "0ms" })
      const ollama = yield* Ollama.make({ baseUrl: emulator.url })
      const call = yield* Effect.fork(Effect.flip(ollama.generate(hello)))
      for (const wait of [2000, 4000, 8000]) {
        yield* sleepRegistered(wait)
        yield* TestClock.adjust(wait)
      }
      expect(yield* Fiber.join(call)).toMatchObject({ _tag: "RetriesExhausted", attempts: 4 })
      expect((yield* emulator.stats).requests).toBe(4)
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})

describe("Ollama refuses bad call options, typed, before sending", () => {
  it.scoped("a per-call timeout that is no duration is InvalidInput naming timeout", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "0ms" })
      const ollama = yield* Ollama.make({ baseUrl: emulator.url })
      for (const timeout of ["soon", -1, 0, "-5 seconds", Number.NaN] as Array<any>) {
        const one = yield* Effect.flip(ollama.generate(hello, { timeout }))
        expect(fields(one), String(timeout)).toMatchObject({
          _tag: "InvalidInput",
          service: "ollama",
          operation: "generate",
          field: "timeout"
        })
        const streamed = yield* Effect.flip(Stream.runDrain(ollama.chatStream({ model, messages: [] }, { timeout })))
        expect(fields(streamed)).toMatchObject({ _tag: "InvalidInput", operation: "chatStream", field: "timeout" })
      }
      expect((yield* emulator.stats).requests).toBe(0)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("waitForCapacity: a bad timeout, interval or maxLoaded is InvalidInput naming it", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "0ms" })
      const ollama = yield* Ollama.make({ baseUrl: emulator.url })
      const cases: Array<[Ollama.WaitOptions, string]> = [
        [{ timeout: "later" as any }, "timeout"],
        [{ timeout: "1 second", interval: "often" as any }, "interval"],
        [{ timeout: "1 second", interval: 0 }, "interval"],
        [{ timeout: "1 second", interval: "Infinity" as any }, "interval"],
        [{ timeout: "1 second", maxLoaded: -1 }, "maxLoaded"],
        [{ timeout: "1 second", maxLoaded: 1.5 }, "maxLoaded"]
      ]
      for (const [options, field] of cases) {
        const error = yield* Effect.flip(ollama.waitForCapacity(options))
        expect(fields(error), field).toMatchObject({ _tag: "InvalidInput", operation: "waitForCapacity", field })
      }
      expect((yield* emulator.stats).requests).toBe(0)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("waitForCapacity polls every 2 s by default, on the Clock", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "0ms" })
      const ollama = yield* Ollama.make({ baseUrl: emulator.url })
      // maxLoaded 0: never capacity, so it polls until the timeout
      const wait = yield* Effect.fork(ollama.waitForCapacity({ timeout: "5 seconds", maxLoaded: 0 }))
      const requests = (n: number) => eventually(Effect.map(emulator.stats, (s) => s.requests === n), `poll ${n}`)
      yield* requests(1)
      yield* realSleep(20)
      yield* TestClock.adjust(1999)
      yield* realSleep(20)
      expect((yield* emulator.stats).requests).toBe(1)
      yield* TestClock.adjust(1)
      yield* requests(2)
      yield* realSleep(20)
      yield* TestClock.adjust(2000)
      yield* requests(3)
      yield* realSleep(20)
      yield* TestClock.adjust(1000)
      expect(yield* Fiber.join(wait)).toBe(false)
      expect((yield* emulator.stats).requests).toBe(3)
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})
