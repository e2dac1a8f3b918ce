import { HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, FastCheck as fc, Option, Stream } from "effect"

import { classify } from "../src/internal/llmClassify.js"
import * as RateLimitHeaders from "../src/internal/llmRateLimits.js"
import * as Sse from "../src/internal/llmSse.js"

const response = (status: number, headers: Record<string, string>) =>
  HttpClientResponse.fromWeb(
    HttpClientRequest.post("http://x/v1/chat/completions"),
    new Response(null, { status, headers })
  )

const envelope = (message: string, type: string, code: string | null = "rate_limit_exceeded") =>
  JSON.stringify({ error: { message, type, param: null, code } })

const tokens429 = envelope(
  "Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 40, Used 21, Requested 21. Please try again in 1.5s. Visit …",
  "tokens"
)

const classified = (status: number, headers: Record<string, string>, body: string) =>
  classify("llm")(response(status, headers), body)

describe("Llm classification of refusals", () => {
  it("a tokens 429 with tokens left: the body's wait when shorter than the bucket's reset, else the reset", () => {
    const headers = { "x-ratelimit-remaining-tokens": "19", "x-ratelimit-reset-tokens": "6m0s" }
    const hint = (headers: Record<string, string>, body: string) => {
      const error = Option.getOrThrow(classified(429, headers, body)!)
      expect(error).toMatchObject({ _tag: "RateLimited", status: 429, service: "llm" })
      return Duration.toMillis((error as { retryAfter: Duration.Duration }).retryAfter)
    }
    expect(hint(headers, tokens429)).toBe(1500)
    expect(hint({ ...headers, "x-ratelimit-reset-tokens": "250ms" }, tokens429)).toBe(250)
    expect(hint(headers, envelope("Rate limit reached.", "tokens"))).toBe(360_000)
  })

  it("retry-after(-ms), x-should-retry and an empty request bucket are left to @bulwark/http", () => {
    expect(classified(429, { "retry-after-ms": "20" }, tokens429)).toBeUndefined()
    expect(classified(429, { "retry-after": "1" }, tokens429)).toBeUndefined()
    expect(classified(429, { "x-should-retry": "false" }, tokens429)).toBeUndefined()
    const requests = envelope("Rate limit reached on requests per min (RPM). Please try again in 20ms.", "requests")
    expect(classified(429, { "x-ratelimit-remaining-requests": "0" }, requests)).toBeUndefined()
    expect(classified(429, {}, "<html>busy</html>")).toBeUndefined()
    expect(classified(503, {}, envelope("overloaded", "server_error", null))).toBeUndefined()
  })

  it("quota, request too large and 4xx have their own tags with the envelope's fields", () => {
    const quota = envelope("You exceeded your current quota", "insufficient_quota", "insufficient_quota")
    expect(Option.getOrThrow(classified(429, { "x-request-id": "req_1" }, quota)!)).toMatchObject({
      _tag: "QuotaExceeded",
      requestId: "req_1",
      detail: "You exceeded your current quota"
    })
    expect(Option.getOrThrow(classified(429, {}, envelope("Request too large for gpt-4o", "tokens"))!)._tag)
      .toBe("RequestTooLarge")
    const tags = [400, 401, 403, 404, 422].map((status) =>
      Option.getOrThrow(classified(status, {}, envelope("no", "invalid_request_error", null))!)._tag
    )
    expect(tags).toEqual(["BadRequest", "AuthenticationFailed", "PermissionDenied", "NotFound", "BadRequest"])
    const plain = Option.getOrThrow(classified(404, {}, "404 page not found")!)
    expect(plain.detail).toBe("404 page not found")
    expect((plain as { type?: string }).type).toBeUndefined()
  })
})

describe("Llm rate-limit headers", () => {
  it("reads the six headers, resets as durations and instants; none without them", () => {
    const limits = RateLimitHeaders.fromHeaders({
      "x-ratelimit-limit-requests": "60",
      "x-ratelimit-remaining-requests": "59",
      "x-ratelimit-reset-requests": "1s",
      "x-ratelimit-limit-tokens": "150000",
      "x-ratelimit-remaining-tokens": "149984",
      "x-ratelimit-reset-tokens": "6m0s"
    }, 1000)
    expect(limits).toEqual({
      observedAt: 1000,
      requests: { limit: 60, remaining: 59, reset: Duration.seconds(1), resetAt: 2000 },
      tokens: { limit: 150000, remaining: 149984, reset: Duration.minutes(6), resetAt: 361_000 }
    })
    expect(RateLimitHeaders.fromHeaders({ "content-type": "application/json" }, 0)).toBeUndefined()
    expect(
      RateLimitHeaders.fromHeaders({ "x-ratelimit-remaining-tokens": "-1", "x-ratelimit-reset-tokens": "soon" }, 0)
    )
      .toBeUndefined()
  })
})

const wire = "data: {\"a\":1}\n\n: keep-alive\n\nevent: error\ndata: {\"error\":\ndata: 1}\r\n\r\ndata: [DONE]\n\n"

const parse = (pieces: ReadonlyArray<string>) =>
  Effect.map(
    Stream.runCollect(Sse.events(Stream.fromIterable(pieces.map((piece) => new TextEncoder().encode(piece))))),
    Chunk.toReadonlyArray
  )

describe("Llm SSE parsing", () => {
  it.effect("events, comments, CRLF, multi-line data and event names", () =>
    Effect.gen(function*() {
      expect(yield* parse([wire])).toEqual([
        { event: undefined, data: "{\"a\":1}" },
        { event: "error", data: "{\"error\":\n1}" },
        { event: undefined, data: "[DONE]" }
      ])
      // a trailing event without its blank line is dropped
      expect(yield* parse(["data: {\"a\":1}\n\ndata: {\"b\""])).toEqual([{ event: undefined, data: "{\"a\":1}" }])
    }))

  it.effect.prop(
    "any split of the bytes gives the same events",
    [fc.array(fc.nat(wire.length), { maxLength: 12 })],
    ([cuts]) =>
      Effect.gen(function*() {
        const points = [...new Set(cuts)].sort((a, b) => a - b)
        const pieces = [0, ...points].map((from, i) => wire.slice(from, points[i] ?? wire.length))
        expect(yield* parse(pieces)).toEqual(yield* parse([wire]))
      })
  )
})
