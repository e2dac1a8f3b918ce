import * as HttpFailures from "@bulwark/http/HttpFailures"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import { Ollama } from "ollama"
import * as OllamaEmulator from "../src/OllamaEmulator.js"

describe("docs/emulators/ollama.md", () => {
  it("shows only code that the tests run", () => expectDocRegions("emulators/ollama.md", __filename))

  it.live("generate", () => {
    // #region generate
    const program = Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ seed: 7, tokenLatency: "5ms", loadTime: "50ms" })
      const ollama = new Ollama({ host: emulator.url })
      const first = yield* Effect.promise(() => ollama.generate({ model: "llama3.2:3b", prompt: "Hi", stream: false }))
      expect(first).toMatchObject({ model: "llama3.2:3b", done: true, done_reason: "stop" })
      expect(first.load_duration).toBeGreaterThan(40_000_000) // nanoseconds: the model was cold (50 ms)
      const streamed = yield* Effect.promise(async () => {
        let text = ""
        for await (const part of await ollama.generate({ model: "llama3.2:3b", prompt: "Hi", stream: true })) {
          text += part.response
        }
        return text
      })
      expect(streamed).toBe(first.response) // same seed, same request: same words
      const ps = yield* Effect.promise(() => ollama.ps())
      expect(ps.models.map((model) => model.name)).toEqual(["llama3.2:3b"]) // loaded for keepAlive (5m)
    }).pipe(Effect.scoped)
    // #endregion
    return program
  })

  it.live("queue", () => {
    // #region queue
    const program = Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ numParallel: 1, maxQueue: 1, tokenLatency: "100ms" })
      const generate = Effect.promise(() =>
        fetch(`${emulator.url}/api/generate`, {
          method: "POST",
          body: JSON.stringify({ model: "llama3.2:3b", prompt: "Hi", stream: false, options: { num_predict: 5 } })
        }).then(async (r) => ({ status: r.status, body: await r.json() }))
      )
      const until = (running: number, waiting: number) =>
        Effect.repeat(emulator.queue, {
          until: (queue) => queue.running === running && queue.waiting === waiting,
          schedule: Schedule.spaced("5 millis")
        })
      const running = yield* Effect.fork(generate)
      yield* until(1, 0)
      const waiting = yield* Effect.fork(generate)
      yield* until(1, 1) // one slot taken, one request queued
      expect(yield* generate).toEqual({
        status: 503,
        body: { error: "server busy, please try again.  maximum pending requests exceeded" }
      })
      expect((yield* Fiber.join(running)).status).toBe(200)
      expect((yield* Fiber.join(waiting)).status).toBe(200) // it waited for the slot
    }).pipe(Effect.scoped)
    // #endregion
    return program
  })

  it.live("resilient", () => {
    // #region resilient
    const program = Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ faults: "status=503@0s-500ms", tokenLatency: "0ms" })
      const client = yield* ResilientClient.make({
        service: "ollama",
        policy: { retry: { maxAttempts: 6, base: "30 millis", jitter: "none" } },
        classify: { isOverloaded: HttpFailures.isOllamaBusy }
      })
      const response = yield* client.execute(
        HttpClientRequest.post(`${emulator.url}/api/chat`).pipe(HttpClientRequest.bodyUnsafeJson({
          model: "qwen2.5-coder:7b",
          messages: [{ role: "user", content: "Hi" }],
          stream: false
        }))
      )
      expect(response.status).toBe(200)
      expect((yield* emulator.stats).faults["status-503"]).toBeGreaterThanOrEqual(2)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
    // #endregion
    return program
  })
})
