import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { type GenerateResponse, Ollama } from "ollama"
import * as OllamaEmulator from "../src/OllamaEmulator.js"
import { pollUntil, tick } from "./utils/testClock.js"

/** The SDK's error for a non-2xx answer: `ResponseError` with `error` (Ollama's text) and `status_code`. */
const failure = (promise: () => Promise<unknown>) =>
  Effect.promise(() =>
    promise().then(
      () => undefined,
      (error: Error & { error?: string; status_code?: number }) => ({
        name: error.name,
        error: error.error,
        status_code: error.status_code
      })
    )
  )

describe("OllamaEmulator with the official ollama SDK", () => {
  it.live("generate and chat, streaming and not, list, ps and version decode", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "0ms", seed: 5 })
      const ollama = new Ollama({ host: emulator.url })

      const generated = yield* Effect.promise(() =>
        ollama.generate({ model: "llama3.2:3b", prompt: "Why is the sky blue?", stream: false })
      )
      expect(generated).toMatchObject({ model: "llama3.2:3b", done: true, done_reason: "stop" })
      expect(generated.response?.length).toBeGreaterThan(0)
      expect(generated.eval_count).toBeGreaterThan(0)

      const streamed = yield* Effect.promise(async () => {
        const parts: Array<GenerateResponse> = []
        for await (
          const part of await ollama.generate({ model: "llama3.2:3b", prompt: "Why is the sky blue?", stream: true })
        ) parts.push(part)
        return parts
      })
      expect(streamed.map((part) => part.response).join("")).toBe(generated.response)
      expect(streamed.at(-1)).toMatchObject({ done: true })

      const chat = yield* Effect.promise(() =>
        ollama.chat({ model: "qwen2.5-coder:7b", messages: [{ role: "user", content: "hello" }] })
      )
      expect(chat).toMatchObject({ done: true, message: { role: "assistant" } })
      const chatParts = yield* Effect.promise(async () => {
        let text = ""
        for await (
          const part of await ollama.chat({
            model: "qwen2.5-coder:7b",
            messages: [{ role: "user", content: "hello" }],
            stream: true
          })
        ) text += part.message.content
        return text
      })
      expect(chatParts).toBe(chat.message.content)

      const list = yield* Effect.promise(() => ollama.list())
      expect(list.models.map((model) => model.name)).toEqual(["llama3.2:3b", "qwen2.5-coder:7b"])
      const ps = yield* Effect.promise(() => ollama.ps())
      expect(ps.models.map((model) => model.name).sort()).toEqual(["llama3.2:3b", "qwen2.5-coder:7b"])
      expect(ps.models[0]!.size_vram).toBe(ps.models[0]!.size)
      expect(yield* Effect.promise(() => ollama.version())).toEqual({ version: "0.12.6" })
    }).pipe(Effect.scoped))

  it.live("an unknown model reaches the SDK as ResponseError 404 with Ollama's text", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "0ms" })
      const ollama = new Ollama({ host: emulator.url })
      const expected = { name: "ResponseError", error: "model 'mistral:7b' not found", status_code: 404 }
      expect(yield* failure(() => ollama.generate({ model: "mistral:7b", prompt: "hi" }))).toEqual(expected)
      expect(yield* failure(() => ollama.chat({ model: "mistral:7b", messages: [], stream: true }))).toEqual(expected)
    }).pipe(Effect.scoped))

  // On the TestClock: the first request keeps the slot until the test moves the clock on, however slow the machine.
  it.scoped("a full queue reaches the SDK as ResponseError 503 with the server busy text", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "30ms", numParallel: 1, maxQueue: 0 })
      const ollama = new Ollama({ host: emulator.url })
      const busy = yield* Effect.fork(
        Effect.promise(() =>
          ollama.generate({ model: "llama3.2:3b", prompt: "hi", stream: false, options: { num_predict: 4 } })
        )
      )
      yield* pollUntil(emulator.queue, (queue) => queue.running === 1)
      expect(
        yield* failure(() => ollama.generate({ model: "llama3.2:3b", prompt: "hi", stream: true }))
      ).toEqual({
        name: "ResponseError",
        error: "server busy, please try again.  maximum pending requests exceeded",
        status_code: 503
      })
      yield* tick(30, 4) // its four tokens
      expect((yield* Fiber.join(busy)).done).toBe(true)
    }))

  it.live("a mid-stream error line reaches the SDK as an Error with Ollama's text, after the first parts", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "0ms", midStreamError: 1 })
      const ollama = new Ollama({ host: emulator.url })
      const outcome = yield* Effect.promise(async () => {
        let parts = 0
        try {
          for await (const part of await ollama.generate({ model: "llama3.2:3b", prompt: "Hi", stream: true })) {
            expect(part.done).toBe(false)
            parts++
          }
          return { parts, error: undefined }
        } catch (error) {
          return { parts, error: (error as Error).message }
        }
      })
      expect(outcome.parts).toBeGreaterThan(0)
      expect(outcome.error).toMatch(/^model runner has unexpectedly stopped/)
      const chat = yield* Effect.promise(async () => {
        try {
          for await (
            const _ of await ollama.chat({
              model: "qwen2.5-coder:7b",
              messages: [{ role: "user", content: "hello" }],
              stream: true
            })
          ) {
            // read on until the error line
          }
          return undefined
        } catch (error) {
          return (error as Error).message
        }
      })
      expect(chat).toMatch(/^model runner has unexpectedly stopped/)
      // the stream's end still frees the slot; a non-streamed answer is whole
      const whole = yield* Effect.promise(() => ollama.generate({ model: "llama3.2:3b", prompt: "Hi", stream: false }))
      expect(whole.done).toBe(true)
      expect(yield* emulator.queue).toEqual({ running: 0, waiting: 0 })
    }).pipe(Effect.scoped))
})
