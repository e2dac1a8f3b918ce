import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, TestClock } from "effect"
import * as Limits from "../src/internal/openaiLimits.js"
import * as OpenAiEmulator from "../src/OpenAiEmulator.js"

interface Answer {
  readonly status: number
  readonly headers: Record<string, string>
  readonly text: string
  readonly json: any
}

const call = (url: string, init: { body?: unknown; method?: string; headers?: Record<string, string> } = {}) =>
  Effect.promise(async (): Promise<Answer> => {
    const response = await fetch(url, {
      method: init.method ?? "POST",
      headers: { "content-type": "application/json", ...init.headers },
      ...(init.body === undefined
        ? {}
        : { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body) })
    })
    const text = await response.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: response.status, headers: Object.fromEntries(response.headers), text, json }
  })

const chat = (emulator: OpenAiEmulator.Service, body: unknown, headers: Record<string, string> = {}) =>
  call(`${emulator.url}/v1/chat/completions`, { body, headers })

const hello = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hello" }] }

/** The JSON payloads of an SSE body, `[DONE]` as the string. */
const events = (text: string) => {
  expect(text.endsWith("\n\n")).toBe(true)
  return text.split("\n\n").filter((event) => event !== "").map((event) => {
    expect(event.startsWith("data: ")).toBe(true)
    const data = event.slice("data: ".length)
    return data === "[DONE]" ? data : JSON.parse(data)
  })
}

const rateHeaderNames = [
  "x-ratelimit-limit-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-requests",
  "x-ratelimit-reset-tokens"
]

describe("openaiLimits (token buckets)", () => {
  const minute = 60_000

  it("refills continuously and reports remaining and reset as OpenAI does", () => {
    let limits: Limits.Limits = { requests: Limits.full(60, minute, 0), tokens: Limits.full(1000, minute, 0) }
    const first = Limits.take(limits, 0, 100)
    expect(first._tag).toBe("Allowed")
    limits = first.limits
    expect(first.headers).toEqual({
      limitRequests: 60,
      limitTokens: 1000,
      remainingRequests: 59,
      remainingTokens: 900,
      resetRequestsMillis: 1000,
      resetTokensMillis: 6000
    })
    // 3 s later: 3 requests and 50 tokens back, capped at the limit
    expect(Limits.headersOf(Limits.peek(limits, 3000))).toMatchObject({
      remainingRequests: 60,
      remainingTokens: 950,
      resetRequestsMillis: 0,
      resetTokensMillis: 3000
    })
  })

  it("refuses all or nothing, names the bucket that frees last, and TooLarge past the limit", () => {
    const limits: Limits.Limits = { requests: Limits.full(2, 1000, 0), tokens: Limits.full(100, 1000, 0) }
    const a = Limits.take(limits, 0, 90)
    const b = Limits.take(a.limits, 0, 50)
    expect(b).toMatchObject({ _tag: "Limited", bucket: "tokens", waitMillis: 400, used: 90 })
    expect(b.limits.requests.level).toBe(1)
    const c = Limits.take(Limits.take(a.limits, 0, 1).limits, 0, 1)
    expect(c).toMatchObject({ _tag: "Limited", bucket: "requests", waitMillis: 500 })
    expect(Limits.take(limits, 0, 101)._tag).toBe("TooLarge")
    expect(Limits.take(b.limits, 400, 50)._tag).toBe("Allowed")
  })

  it("formats resets as Go durations", () => {
    expect([0, 12, 250, 1000, 1500, 360_000, 85_656_648].map(Limits.goDuration)).toEqual([
      "0s",
      "12ms",
      "250ms",
      "1s",
      "1.5s",
      "6m0s",
      "23h47m36.648s"
    ])
  })

  it.prop(
    "never negative, never above the limit; a refusal takes nothing and its wait is enough",
    [
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 1, max: 100_000 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 1200 })), { maxLength: 50 })
    ],
    ([limit, windowMillis, steps]) => {
      let limits: Limits.Limits = {
        requests: Limits.full(limit, windowMillis, 0),
        tokens: Limits.full(limit, windowMillis, 0)
      }
      let now = 0
      for (const [dt, cost] of steps) {
        now += dt
        const verdict = Limits.take(limits, now, cost)
        for (const bucket of [verdict.limits.requests, verdict.limits.tokens]) {
          expect(bucket.level).toBeGreaterThanOrEqual(-1e-9)
          expect(bucket.level).toBeLessThanOrEqual(bucket.limit)
        }
        expect(verdict.headers.remainingTokens).toBeGreaterThanOrEqual(0)
        expect(verdict.headers.resetTokensMillis).toBeGreaterThanOrEqual(0)
        expect(verdict.headers.resetTokensMillis).toBeLessThanOrEqual(windowMillis)
        if (verdict._tag === "Limited") {
          expect(verdict.limits).toEqual(Limits.peek(limits, now))
          expect(Limits.take(verdict.limits, now + verdict.waitMillis, cost)._tag).toBe("Allowed")
        }
        if (verdict._tag === "TooLarge") expect(cost).toBeGreaterThan(limit)
        limits = verdict.limits
      }
    }
  )

  it.effect("the limiter refills on Effect's Clock (TestClock)", () =>
    Effect.gen(function*() {
      const limiter = yield* Limits.makeLimiter({ requestsPerWindow: 2, tokensPerWindow: 1000, windowMillis: 1000 })
      expect((yield* limiter.take(10))._tag).toBe("Allowed")
      expect((yield* limiter.take(10))._tag).toBe("Allowed")
      const refused = yield* limiter.take(10)
      expect(refused).toMatchObject({ _tag: "Limited", bucket: "requests", waitMillis: 500 })
      yield* TestClock.adjust("499 millis")
      expect((yield* limiter.take(10))._tag).toBe("Limited")
      yield* TestClock.adjust("1 millis")
      expect((yield* limiter.take(10))._tag).toBe("Allowed")
      yield* TestClock.adjust("10 seconds")
      expect(yield* limiter.peek).toMatchObject({ remainingRequests: 2, remainingTokens: 1000, resetRequestsMillis: 0 })
    }))
})

describe("OpenAiEmulator", () => {
  it.live("answers a chat completion in OpenAI's shape, with the rate-limit and request-id headers", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ seed: 7 })
      const answer = yield* chat(emulator, hello)
      expect(answer.status).toBe(200)
      expect(answer.headers["content-type"]).toBe("application/json")
      const body = answer.json
      expect(body).toMatchObject({
        object: "chat.completion",
        model: "gpt-4o-mini",
        choices: [{ index: 0, message: { role: "assistant", refusal: null }, logprobs: null, finish_reason: "stop" }]
      })
      expect(body.id).toMatch(/^chatcmpl-[A-Za-z0-9]{29}$/)
      expect(Number.isInteger(body.created)).toBe(true)
      expect(typeof body.choices[0].message.content).toBe("string")
      const { completion_tokens, prompt_tokens, total_tokens } = body.usage
      // 3 priming + 3 framing + ceil("Say hello".length / 4) = 9
      expect(prompt_tokens).toBe(9)
      expect(total_tokens).toBe(prompt_tokens + completion_tokens)
      expect(completion_tokens).toBeGreaterThanOrEqual(8)
      expect(answer.headers["x-request-id"]).toMatch(/^req_[a-z0-9]{32}$/)
      expect(answer.headers["openai-version"]).toBe("2020-10-01")
      expect(Number(answer.headers["openai-processing-ms"])).toBeGreaterThanOrEqual(0)
      for (const name of rateHeaderNames) expect(answer.headers[name]).toBeDefined()
      expect(answer.headers["x-ratelimit-remaining-requests"]).toBe("499")
      expect(answer.headers["x-ratelimit-remaining-tokens"]).toBe(String(200_000 - total_tokens))
      expect(answer.headers["x-ratelimit-reset-requests"]).toBe("120ms")
    }).pipe(Effect.scoped))

  it.live("the same seed and request give the same words; another seed other words; ids differ", () =>
    Effect.gen(function*() {
      const a = yield* OpenAiEmulator.make({ seed: 1 })
      const b = yield* OpenAiEmulator.make({ seed: 2 })
      const first = (yield* chat(a, hello)).json
      const again = (yield* chat(a, hello)).json
      const other = (yield* chat(b, hello)).json
      expect(again.choices[0].message.content).toBe(first.choices[0].message.content)
      expect(again.id).not.toBe(first.id)
      expect(other.choices[0].message.content).not.toBe(first.choices[0].message.content)
    }).pipe(Effect.scoped))

  it.live("max_tokens cuts the reply with finish_reason length; n gives n choices; stop cuts before the sequence", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make()
      const short = (yield* chat(emulator, { ...hello, max_completion_tokens: 3, n: 2 })).json
      expect(short.choices.map((c: any) => c.finish_reason)).toEqual(["length", "length"])
      expect(short.usage.completion_tokens).toBe(6)
      const full = (yield* chat(emulator, hello)).json.choices[0].message.content as string
      const word = full.split(" ")[2]!
      const stopped = (yield* chat(emulator, { ...hello, stop: [` ${word}`] })).json.choices[0]
      expect(stopped.finish_reason).toBe("stop")
      expect(stopped.message.content).toBe(full.slice(0, full.indexOf(` ${word}`)))
    }).pipe(Effect.scoped))

  it.live("streams SSE: role chunk, content chunks, finish chunk, usage chunk, [DONE]", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ tokenLatency: "1ms" })
      const answer = yield* chat(emulator, { ...hello, stream: true, stream_options: { include_usage: true } })
      expect(answer.status).toBe(200)
      expect(answer.headers["content-type"]).toContain("text/event-stream")
      expect(answer.headers["x-ratelimit-limit-requests"]).toBe("500")
      const list = events(answer.text)
      expect(list[list.length - 1]).toBe("[DONE]")
      const chunks = list.slice(0, -1)
      expect(new Set(chunks.map((c: any) => c.id)).size).toBe(1)
      expect(chunks.every((c: any) => c.object === "chat.completion.chunk")).toBe(true)
      expect(chunks[0].choices[0]).toEqual({
        index: 0,
        delta: { role: "assistant", content: "", refusal: null },
        logprobs: null,
        finish_reason: null
      })
      const usage = chunks[chunks.length - 1]
      expect(usage.choices).toEqual([])
      const finish = chunks[chunks.length - 2]
      expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: "stop" })
      const content = chunks.slice(1, -2).map((c: any) => c.choices[0].delta.content).join("")
      expect(chunks.slice(0, -1).every((c: any) => c.usage === null)).toBe(true)
      expect(usage.usage.completion_tokens).toBe(chunks.length - 3)
      const plain = (yield* chat(emulator, hello)).json
      expect(content).toBe(plain.choices[0].message.content)
      // without include_usage: no usage key, no usage chunk
      const bare = events((yield* chat(emulator, { ...hello, stream: true })).text)
      expect(bare.slice(0, -1).every((c: any) => !("usage" in c) && c.choices.length === 1)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("tool calls: arguments as a JSON string, streamed in fragments by index; a tool result ends the loop", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make()
      const tools = [{
        type: "function",
        function: {
          name: "get_weather",
          parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } } }
        }
      }]
      const request = { ...hello, tools }
      const called = (yield* chat(emulator, request)).json.choices[0]
      expect(called.finish_reason).toBe("tool_calls")
      expect(called.message.content).toBeNull()
      const [toolCall] = called.message.tool_calls
      expect(toolCall).toMatchObject({ type: "function", function: { name: "get_weather" } })
      expect(toolCall.id).toMatch(/^call_/)
      expect(Object.keys(JSON.parse(toolCall.function.arguments))).toEqual(["city", "days"])
      const streamed = events((yield* chat(emulator, { ...request, stream: true })).text).slice(0, -1)
      const args = streamed.flatMap((c: any) => c.choices[0].delta.tool_calls ?? []).map((t: any) =>
        t.function.arguments
      )
        .join("")
      expect(args).toBe(toolCall.function.arguments)
      expect(streamed[streamed.length - 1].choices[0].finish_reason).toBe("tool_calls")
      const answered = (yield* chat(emulator, {
        ...request,
        messages: [...hello.messages, { role: "assistant", content: null, tool_calls: [toolCall] }, {
          role: "tool",
          tool_call_id: toolCall.id,
          content: "{\"temp\": 21}"
        }]
      })).json.choices[0]
      expect(answered.finish_reason).toBe("stop")
      expect(typeof answered.message.content).toBe("string")
      const none = (yield* chat(emulator, { ...request, tool_choice: "none" })).json.choices[0]
      expect(none.finish_reason).toBe("stop")
    }).pipe(Effect.scoped))

  // On the TestClock (this test and the next): no time passes between the requests, however slow the machine,
  // until the test moves it.
  it.scoped("an empty request bucket answers 429 rate_limit_exceeded with retry hints, then refills", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ requestsPerMinute: 2, window: "200 millis" })
      expect((yield* chat(emulator, hello)).status).toBe(200)
      expect((yield* chat(emulator, hello)).status).toBe(200)
      const refused = yield* chat(emulator, hello)
      expect(refused.status).toBe(429)
      expect(refused.json).toEqual({
        error: {
          message: expect.stringMatching(
            /^Rate limit reached for gpt-4o-mini in organization \S+ on requests per min \(RPM\): Limit 2, Used 2, Requested 1\. Please try again in 100ms\. Visit https:\/\/platform\.openai\.com\/account\/rate-limits to learn more\.$/
          ),
          type: "requests",
          param: null,
          code: "rate_limit_exceeded"
        }
      })
      // one request of the two back after half the window
      expect(refused.headers["retry-after-ms"]).toBe("100")
      expect(refused.headers["retry-after"]).toBe("1")
      expect(refused.headers["x-ratelimit-remaining-requests"]).toBe("0")
      expect(refused.headers["x-ratelimit-reset-requests"]).toBe("200ms")
      expect(refused.headers["x-request-id"]).toBeDefined()
      yield* TestClock.adjust("99 millis")
      expect((yield* chat(emulator, hello)).status).toBe(429)
      yield* TestClock.adjust("1 millis")
      expect((yield* chat(emulator, hello)).status).toBe(200)
    }))

  it.scoped("the token bucket: charged prompt + max tokens; too large a request is refused for good", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ tokensPerMinute: 100, window: "10 seconds" })
      const first = yield* chat(emulator, { ...hello, max_tokens: 50 })
      expect(first.status).toBe(200)
      expect(first.headers["x-ratelimit-remaining-tokens"]).toBe(String(100 - 9 - 50))
      expect(first.headers["x-ratelimit-reset-tokens"]).toBe("5.9s")
      const refused = yield* chat(emulator, { ...hello, max_tokens: 50 })
      expect(refused.status).toBe(429)
      expect(refused.json.error).toMatchObject({ type: "tokens", code: "rate_limit_exceeded" })
      expect(refused.json.error.message).toContain("on tokens per min (TPM): Limit 100, Used 59, Requested 59.")
      const tooLarge = yield* chat(emulator, { ...hello, max_tokens: 200 })
      expect(tooLarge.status).toBe(429)
      expect(tooLarge.json.error.message).toMatch(/^Request too large for gpt-4o-mini/)
      expect(tooLarge.headers["retry-after"]).toBeUndefined()
    }))

  it.live("retryHints, shouldRetry and quota switch the 429's form", () =>
    Effect.gen(function*() {
      const cases = [
        [{ retryHints: "none" }, undefined, undefined, undefined],
        [{ retryHints: "retry-after" }, "60", undefined, undefined],
        [{ retryHints: "retry-after-ms", shouldRetry: false }, undefined, "defined", "false"]
      ] as const
      for (const [options, retryAfter, retryAfterMs, shouldRetry] of cases) {
        const emulator = yield* OpenAiEmulator.make({ ...options, requestsPerMinute: 1 })
        yield* chat(emulator, hello)
        const refused = yield* chat(emulator, hello)
        expect(refused.status).toBe(429)
        expect(refused.headers["retry-after"]).toBe(retryAfter)
        expect(refused.headers["retry-after-ms"] === undefined ? undefined : "defined").toBe(retryAfterMs)
        expect(refused.headers["x-should-retry"]).toBe(shouldRetry)
      }
      const broke = yield* OpenAiEmulator.make({ quota: 60 })
      expect((yield* chat(broke, hello)).status).toBe(200)
      const refused = yield* chat(broke, hello)
      expect(refused.status).toBe(429)
      expect(refused.json.error).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota", param: null })
      expect(refused.json.error.message).toMatch(/^You exceeded your current quota/)
      expect(refused.headers["retry-after"]).toBeUndefined()
    }).pipe(Effect.scoped))

  it.live("401 without or with a wrong bearer key when apiKey is set", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ apiKey: "sk-test-1234567890" })
      const missing = yield* chat(emulator, hello)
      expect(missing.status).toBe(401)
      expect(missing.json.error).toMatchObject({ type: "invalid_request_error", param: null, code: null })
      expect(missing.json.error.message).toMatch(/^You didn't provide an API key/)
      const wrong = yield* chat(emulator, hello, { authorization: "Bearer sk-wrong-0000000000" })
      expect(wrong.status).toBe(401)
      expect(wrong.json.error).toMatchObject({
        code: "invalid_api_key",
        message: expect.stringContaining("Incorrect API key provided: sk-************0000.")
      })
      expect(wrong.headers["x-request-id"]).toBeDefined()
      expect((yield* chat(emulator, hello, { authorization: "Bearer sk-test-1234567890" })).status).toBe(200)
    }).pipe(Effect.scoped))

  it.live("400s name the parameter as OpenAI does; 404 for an unknown model and an unknown URL", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make()
      const cases: Array<[unknown, number, string | null, string | null, RegExp]> = [
        ["{not json", 400, null, null, /^We could not parse the JSON body of your request\./],
        [
          { model: "gpt-4o-mini" },
          400,
          "messages",
          "missing_required_parameter",
          /^Missing required parameter: 'messages'\.$/
        ],
        [
          { ...hello, messages: "hi" },
          400,
          "messages",
          "invalid_type",
          /^Invalid type for 'messages': expected an array, but got a string instead\.$/
        ],
        [{ ...hello, messages: [] }, 400, "messages", "empty_array", /empty array/],
        [
          { ...hello, messages: [{ role: "robot", content: "x" }] },
          400,
          "messages[0].role",
          "invalid_value",
          /'robot'/
        ],
        [
          { ...hello, temperature: 3 },
          400,
          "temperature",
          "decimal_above_max_value",
          /Expected a value <= 2, but got 3/
        ],
        [{ ...hello, n: 1.5 }, 400, "n", "invalid_type", /expected an integer, but got a decimal/],
        [
          { ...hello, stream_options: { include_usage: true } },
          400,
          "stream_options",
          null,
          /only allowed when 'stream'/
        ],
        [{ ...hello, model: "gpt-9" }, 404, null, "model_not_found", /^The model `gpt-9` does not exist/]
      ]
      for (const [body, status, param, code, message] of cases) {
        const answer = yield* chat(emulator, body)
        expect(answer.status, JSON.stringify(body)).toBe(status)
        expect(answer.json.error).toMatchObject({ type: "invalid_request_error", param, code })
        expect(answer.json.error.message).toMatch(message)
        expect(answer.headers["x-ratelimit-limit-requests"]).toBe("500")
      }
      // refused requests are not charged
      expect((yield* emulator.rateLimits).remainingRequests).toBe(500)
      const lost = yield* call(`${emulator.url}/v1/completions`, { body: hello })
      expect(lost.status).toBe(404)
      expect(lost.json.error).toEqual({
        message: "Invalid URL (POST /v1/completions)",
        type: "invalid_request_error",
        param: null,
        code: null
      })
      const models = yield* call(`${emulator.url}/v1/models`, { method: "GET" })
      expect(models.json.data.map((m: any) => m.id)).toEqual(["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"])
    }).pipe(Effect.scoped))

  it.live("records X-Stainless-Retry-Count per request", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ requestsPerMinute: 1 })
      yield* chat(emulator, hello, { "x-stainless-retry-count": "0" })
      yield* chat(emulator, { ...hello, stream: true }, { "x-stainless-retry-count": "1" })
      yield* chat(emulator, hello)
      expect((yield* emulator.requests).map(({ retryCount, status, stream }) => ({ retryCount, status, stream })))
        .toEqual([
          { retryCount: 0, status: 200, stream: false },
          { retryCount: 1, status: 429, stream: true },
          { retryCount: undefined, status: 429, stream: false }
        ])
    }).pipe(Effect.scoped))

  it.live("an injected status answers in OpenAI's envelope, with retry hints until its window ends", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ faults: "status=503@0s-1m" })
      const answer = yield* chat(emulator, hello)
      expect(answer.status).toBe(503)
      expect(answer.json.error).toMatchObject({ type: "server_error", param: null, code: null })
      expect(Number(answer.headers["retry-after"])).toBeGreaterThan(50)
      expect(Number(answer.headers["retry-after-ms"])).toBeGreaterThan(50_000)
      expect(answer.headers["x-request-id"]).toMatch(/^req_/)
      const limited = yield* OpenAiEmulator.make({ faults: "status=429" })
      expect((yield* chat(limited, hello)).json.error.code).toBe("rate_limit_exceeded")
    }).pipe(Effect.scoped))

  it.live("midStreamError ends a stream with an error event instead of [DONE]", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ midStreamError: 1 })
      const list = events((yield* chat(emulator, { ...hello, stream: true })).text)
      expect(list).not.toContain("[DONE]")
      expect(list[list.length - 1]).toEqual({
        error: { message: expect.any(String), type: "server_error", param: null, code: null }
      })
      expect(list.length).toBeGreaterThan(2)
    }).pipe(Effect.scoped))

  it.effect("refuses bad options with InvalidEmulatorOption naming the option", () =>
    Effect.gen(function*() {
      const bad: Array<[OpenAiEmulator.Options, string]> = [
        [{ requestsPerMinute: 0 }, "requestsPerMinute"],
        [{ tokensPerMinute: 1.5 }, "tokensPerMinute"],
        [{ window: "soon" as never }, "window"],
        [{ window: 0 }, "window"],
        [{ models: [] }, "models"],
        [{ models: ["a", "a"] }, "models"],
        [{ apiKey: "" }, "apiKey"],
        [{ serviceTime: "fast" }, "serviceTime"],
        [{ tokenLatency: "1ms..0ms" }, "tokenLatency"],
        [{ retryHints: "always" as never }, "retryHints"],
        [{ quota: -1 }, "quota"],
        [{ midStreamError: 2 }, "midStreamError"]
      ]
      for (const [options, option] of bad) {
        const error = yield* Effect.flip(Effect.scoped(OpenAiEmulator.make(options)))
        expect(error).toMatchObject({ _tag: "InvalidEmulatorOption", service: "openai", option })
      }
    }))
})
