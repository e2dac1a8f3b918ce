import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, TestClock, TestServices } from "effect"
import OpenAI from "openai"
import * as OpenAiEmulator from "../src/OpenAiEmulator.js"
import { pollUntil } from "./utils/testClock.js"

const messages = [{ role: "user" as const, content: "Say hello" }]

/** The time of the real timers the SDK waits on, whatever clock the test runs on. */
const realMillis = TestServices.provideLive(Clock.currentTimeMillis)

const sdk = (
  emulator: OpenAiEmulator.Service,
  options: { maxRetries?: number; timeout?: number; apiKey?: string } = {}
) =>
  new OpenAI({
    baseURL: `${emulator.url}/v1`,
    apiKey: options.apiKey ?? "sk-test",
    maxRetries: options.maxRetries ?? 0,
    timeout: options.timeout ?? 5_000
  })

/** Runs an SDK call; an error comes back as data, so the test can look at its fields. */
const attempt = <A>(run: () => Promise<A>) =>
  Effect.promise(() =>
    run().then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error })
    )
  )

const failureOf = <A>(result: { ok: true; value: A } | { ok: false; error: unknown }) => {
  expect(result.ok).toBe(false)
  return (result as { error: any }).error
}

describe("OpenAiEmulator with the openai SDK", () => {
  it.live("chat.completions.create decodes, with the request id", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ apiKey: "sk-test" })
      const { data, request_id } = yield* Effect.promise(() =>
        sdk(emulator).chat.completions.create({ model: "gpt-4o-mini", messages }).withResponse()
      )
      expect(data.object).toBe("chat.completion")
      expect(data.choices[0]!.message.content).toMatch(/\.$/)
      expect(data.choices[0]!.finish_reason).toBe("stop")
      expect(data.usage!.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens)
      expect(request_id).toMatch(/^req_/)
    }).pipe(Effect.scoped))

  it.live("a stream iterates to [DONE]; include_usage gives the usage chunk", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make()
      const chunks = yield* Effect.promise(async () => {
        const stream = await sdk(emulator).chat.completions.create({
          model: "gpt-4o-mini",
          messages,
          stream: true,
          stream_options: { include_usage: true }
        })
        const all: Array<OpenAI.Chat.Completions.ChatCompletionChunk> = []
        for await (const chunk of stream) all.push(chunk)
        return all
      })
      const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")
      const plain = yield* Effect.promise(() =>
        sdk(emulator).chat.completions.create({ model: "gpt-4o-mini", messages })
      )
      expect(text).toBe(plain.choices[0]!.message.content)
      expect(chunks[chunks.length - 1]!.usage).toEqual(plain.usage)
    }).pipe(Effect.scoped))

  it.live("the SDK's stream helper assembles a streamed tool call", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make()
      const final = yield* Effect.promise(() =>
        sdk(emulator).chat.completions.stream({
          model: "gpt-4o-mini",
          messages,
          tools: [{
            type: "function",
            function: { name: "lookup", parameters: { type: "object", properties: { query: { type: "string" } } } }
          }]
        }).finalChatCompletion()
      )
      const call = final.choices[0]!.message.tool_calls![0]!
      expect(final.choices[0]!.finish_reason).toBe("tool_calls")
      expect(call.type).toBe("function")
      if (call.type === "function") {
        expect(call.function.name).toBe("lookup")
        expect(Object.keys(JSON.parse(call.function.arguments))).toEqual(["query"])
      }
    }).pipe(Effect.scoped))

  // On the TestClock: no time passes between the requests, however slow the machine.
  it.scoped("a 429 reaches the SDK as RateLimitError with status, headers, code, type and request id", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ requestsPerMinute: 1 })
      const client = sdk(emulator)
      yield* Effect.promise(() => client.chat.completions.create({ model: "gpt-4o-mini", messages }))
      const error = failureOf(yield* attempt(() => client.chat.completions.create({ model: "gpt-4o-mini", messages })))
      expect(error).toBeInstanceOf(OpenAI.RateLimitError)
      expect(error).toMatchObject({ status: 429, code: "rate_limit_exceeded", type: "requests", param: null })
      expect(error.message).toMatch(/^429 Rate limit reached for gpt-4o-mini/)
      expect(error.headers.get("retry-after")).toBe("60")
      expect(error.headers.get("retry-after-ms")).toBe("60000")
      expect(error.headers.get("x-ratelimit-remaining-requests")).toBe("0")
      expect(error.requestID).toMatch(/^req_/)
    }))

  // The emulator on the TestClock, the SDK on real timers: the bucket stays empty, however slow the machine,
  // until the test moves the emulator's clock on, which it does while the SDK waits.
  it.scoped("with maxRetries the SDK waits retry-after-ms (a second, not its 0.5 s backoff) and succeeds", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({
        requestsPerMinute: 1,
        window: "1 second",
        retryHints: "retry-after-ms" // the only hint
      })
      const client = sdk(emulator, { maxRetries: 2 })
      yield* Effect.promise(() => client.chat.completions.create({ model: "gpt-4o-mini", messages }))
      const start = yield* realMillis
      const second = yield* Effect.fork(
        Effect.promise(() => client.chat.completions.create({ model: "gpt-4o-mini", messages }))
      )
      yield* pollUntil(emulator.requests, (seen) => seen.length === 2)
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(second)).choices).toHaveLength(1)
      // retry-after-ms said 1000: the SDK's first backoff is 0.5 s at most
      expect((yield* realMillis) - start).toBeGreaterThanOrEqual(999)
      expect((yield* emulator.requests).map(({ retryCount, status }) => [retryCount, status])).toEqual([
        [0, 200],
        [0, 429],
        [1, 200]
      ])
    }))

  it.live("x-should-retry: false stops the SDK's retries; insufficient_quota is retried (status-based)", () =>
    Effect.gen(function*() {
      // a minute's refill: a loaded machine cannot send the second request after it
      const forbidden = yield* OpenAiEmulator.make({ requestsPerMinute: 1, shouldRetry: false })
      const client = sdk(forbidden, { maxRetries: 2 })
      yield* Effect.promise(() => client.chat.completions.create({ model: "gpt-4o-mini", messages }))
      expect(failureOf(yield* attempt(() => client.chat.completions.create({ model: "gpt-4o-mini", messages }))))
        .toBeInstanceOf(OpenAI.RateLimitError)
      expect((yield* forbidden.requests).length).toBe(2)

      const broke = yield* OpenAiEmulator.make({ quota: 0 })
      const error = failureOf(
        yield* attempt(() => sdk(broke, { maxRetries: 1 }).chat.completions.create({ model: "gpt-4o-mini", messages }))
      )
      expect(error).toMatchObject({ status: 429, code: "insufficient_quota", type: "insufficient_quota" })
      expect((yield* broke.requests).map((seen) => seen.retryCount)).toEqual([0, 1])
    }).pipe(Effect.scoped))

  it.live("400, 401 and 404 parse into the SDK's error classes and fields, without retries", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ apiKey: "sk-right" })
      const client = sdk(emulator, { maxRetries: 2, apiKey: "sk-right" })
      const bad = failureOf(
        yield* attempt(() => client.chat.completions.create({ model: "gpt-4o-mini", messages, temperature: 5 }))
      )
      expect(bad).toBeInstanceOf(OpenAI.BadRequestError)
      expect(bad).toMatchObject({
        status: 400,
        type: "invalid_request_error",
        param: "temperature",
        code: "decimal_above_max_value"
      })
      const unknown = failureOf(yield* attempt(() => client.chat.completions.create({ model: "gpt-0", messages })))
      expect(unknown).toBeInstanceOf(OpenAI.NotFoundError)
      expect(unknown).toMatchObject({ code: "model_not_found" })
      const wrongKey = failureOf(
        yield* attempt(() =>
          sdk(emulator, { maxRetries: 2, apiKey: "sk-wrong-key" }).chat.completions.create({
            model: "gpt-4o-mini",
            messages
          })
        )
      )
      expect(wrongKey).toBeInstanceOf(OpenAI.AuthenticationError)
      expect(wrongKey).toMatchObject({ status: 401, code: "invalid_api_key" })
      expect((yield* emulator.requests).length).toBe(3)
    }).pipe(Effect.scoped))

  it.live("a mid-stream error event makes the SDK throw APIError; a slow answer an APIConnectionTimeoutError", () =>
    Effect.gen(function*() {
      const broken = yield* OpenAiEmulator.make({ midStreamError: 1 })
      const streamed = yield* attempt(async () => {
        const stream = await sdk(broken).chat.completions.create({ model: "gpt-4o-mini", messages, stream: true })
        for await (const _ of stream) {
          // drain
        }
      })
      const error = failureOf(streamed)
      expect(error).toBeInstanceOf(OpenAI.APIError)
      expect(error.message).toContain("The server had an error while processing your request")

      const slow = yield* OpenAiEmulator.make({ serviceTime: "300ms" })
      const timedOut = failureOf(
        yield* attempt(() => sdk(slow, { timeout: 50 }).chat.completions.create({ model: "gpt-4o-mini", messages }))
      )
      expect(timedOut).toBeInstanceOf(OpenAI.APIConnectionTimeoutError)
    }).pipe(Effect.scoped))
})
