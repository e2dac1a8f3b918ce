/**
 * The OpenAI emulator's routes: the chat completions (JSON or SSE) behind the
 * API key check, the quota and the rate limiter; the model list; OpenAI's
 * error envelope for every other path and for the statuses the fault timeline
 * injects.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Faults from "../Faults.js"
import type { Seen } from "../OpenAiEmulator.js"
import * as Completion from "./openaiCompletion.js"
import * as Limits from "./openaiLimits.js"
import type { Settings } from "./openaiOptions.js"
import * as Text from "./openaiText.js"
import * as Wire from "./openaiWire.js"
import * as Seeded from "./seeded.js"

const service = "openai"
const maxSeen = 10_000

/** The `x-ratelimit-*` headers of an answer. */
const rateHeaders = (limits: Limits.RateHeaders): Record<string, string> => ({
  "x-ratelimit-limit-requests": String(limits.limitRequests),
  "x-ratelimit-limit-tokens": String(limits.limitTokens),
  "x-ratelimit-remaining-requests": String(limits.remainingRequests),
  "x-ratelimit-remaining-tokens": String(limits.remainingTokens),
  "x-ratelimit-reset-requests": Limits.goDuration(limits.resetRequestsMillis),
  "x-ratelimit-reset-tokens": Limits.goDuration(limits.resetTokensMillis)
})

/** `sk-abc…wxyz` with the middle starred, as OpenAI echoes a wrong key. */
const masked = (key: string) =>
  key.length < 8 ? "*".repeat(key.length) : `${key.slice(0, 3)}${"*".repeat(key.length - 7)}${key.slice(-4)}`

/** The routes, the answer for an injected status, and what the service exposes of its state. */
export const make = (config: Settings) =>
  Effect.gen(function*() {
    const seed = config.seed
    const limiter = yield* Limits.makeLimiter({
      requestsPerWindow: config.requestsPerMinute,
      tokensPerWindow: config.tokensPerMinute,
      windowMillis: config.windowMillis
    })
    const fingerprint = `fp_${Seeded.hash(`${seed}:fingerprint`).toString(16).padStart(10, "0").slice(0, 10)}`
    // Ids differ between identical requests, as OpenAI's do, yet repeat from run to run.
    const ids = Seeded.generator(Seeded.hash(`${seed}:ids`))
    const requestId = () => `req_${Text.opaque(ids, 32).toLowerCase()}`
    let billed = 0
    const seen: Array<Seen> = []

    const base = (id: string): Record<string, string> => ({
      "x-request-id": id,
      "openai-version": "2020-10-01",
      "openai-organization": config.organization
    })

    const authorize = (authorization: string | undefined) => {
      if (config.apiKey === undefined) return Effect.void
      const key = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? "")?.[1]?.trim()
      if (key === config.apiKey) return Effect.void
      return Effect.fail(
        key === undefined
          ? new Wire.OpenAiFailure({
            status: 401,
            message:
              "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            type: "invalid_request_error",
            param: null,
            code: null
          })
          : new Wire.OpenAiFailure({
            status: 401,
            message: `Incorrect API key provided: ${
              masked(key)
            }. You can find your API key at https://platform.openai.com/account/api-keys.`,
            type: "invalid_request_error",
            param: null,
            code: "invalid_api_key"
          })
      )
    }

    const refuse429 = (verdict: Exclude<Limits.Verdict, { _tag: "Allowed" }>, model: string, tokens: number) => {
      const headers = rateHeaders(verdict.headers)
      if (verdict._tag === "TooLarge") {
        return new Wire.OpenAiFailure({
          status: 429,
          message:
            `Request too large for ${model} in organization ${config.organization} on tokens per min (TPM): Limit ${verdict.headers.limitTokens}, Requested ${tokens}. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.`,
          type: "tokens",
          param: null,
          code: "rate_limit_exceeded",
          headers
        })
      }
      const what = verdict.bucket === "requests" ? "requests per min (RPM)" : "tokens per min (TPM)"
      const limit = verdict.bucket === "requests" ? verdict.headers.limitRequests : verdict.headers.limitTokens
      const requested = verdict.bucket === "requests" ? 1 : tokens
      const hints: Record<string, string> = {}
      if (config.retryHints === "both" || config.retryHints === "retry-after-ms") {
        hints["retry-after-ms"] = String(verdict.waitMillis)
      }
      if (config.retryHints === "both" || config.retryHints === "retry-after") {
        hints["retry-after"] = String(Math.ceil(verdict.waitMillis / 1000))
      }
      if (config.shouldRetry !== undefined) hints["x-should-retry"] = String(config.shouldRetry)
      return new Wire.OpenAiFailure({
        status: 429,
        message:
          `Rate limit reached for ${model} in organization ${config.organization} on ${what}: Limit ${limit}, Used ${verdict.used}, Requested ${requested}. Please try again in ${
            Limits.goDuration(verdict.waitMillis)
          }. Visit https://platform.openai.com/account/rate-limits to learn more.`,
        type: verdict.bucket,
        param: null,
        code: "rate_limit_exceeded",
        headers: { ...headers, ...hints }
      })
    }

    const outOfQuota = (headers: Record<string, string>) =>
      new Wire.OpenAiFailure({
        status: 429,
        message:
          "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        type: "insufficient_quota",
        param: null,
        code: "insufficient_quota",
        headers
      })

    /** The answer of a charged request: one JSON object, or the SSE stream. */
    const complete = (
      body: Wire.ChatRequest,
      choices: ReadonlyArray<Text.Choice>,
      prompt: number,
      uniform: () => number
    ) =>
      Effect.gen(function*() {
        const created = Math.floor((yield* Clock.currentTimeMillis) / 1000)
        const id = `chatcmpl-${Text.opaque(ids, 29)}`
        const completion = choices.reduce((sum, c) => sum + c.completionTokens, 0)
        const usage = Completion.usage(prompt, completion)
        const head = { id, created, model: body.model, service_tier: "default", system_fingerprint: fingerprint }
        if (body.stream !== true) return Wire.json(Completion.body(head, choices, usage))
        const failHalfway = config.midStreamError > 0 && uniform() < config.midStreamError
        const events = Completion.chunks(head, choices, usage, body.stream_options?.include_usage === true)
        const cut = failHalfway ? Math.max(1, Math.floor(events.length / 2)) : events.length
        const payloads = Stream.fromIterable(events.slice(0, cut).map((event, i) => ({ event, i }))).pipe(
          Stream.mapEffect(({ event, i }) =>
            i === 0
              ? Effect.succeed(Wire.sseEvent(event))
              : Effect.as(
                Effect.sleep(Duration.millis(Faults.sample(config.tokenLatency, uniform))),
                Wire.sseEvent(event)
              )
          ),
          Stream.concat(Stream.succeed(
            failHalfway ? Wire.sseEvent(Wire.errorBody(Wire.injected(500))) : Wire.sseDone
          ))
        )
        return HttpServerResponse.stream(payloads, {
          contentType: "text/event-stream; charset=utf-8",
          headers: { "cache-control": "no-cache" }
        })
      })

    const chat = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const started = yield* Clock.currentTimeMillis
      const id = requestId()
      const retryHeader = request.headers["x-stainless-retry-count"]
      const retryCount = retryHeader === undefined || !/^\d+$/.test(retryHeader) ? undefined : Number(retryHeader)
      let limits: Record<string, string> = {}
      let body: Wire.ChatRequest | undefined
      const response = yield* Effect.gen(function*() {
        yield* authorize(request.headers.authorization)
        limits = rateHeaders(yield* limiter.peek)
        body = yield* Wire.decodeChatRequest
        const chatRequest = body
        yield* Effect.annotateCurrentSpan({ model: chatRequest.model, stream: chatRequest.stream === true })
        if (!config.models.has(chatRequest.model)) {
          return yield* new Wire.OpenAiFailure({
            status: 404,
            message: `The model \`${chatRequest.model}\` does not exist or you do not have access to it.`,
            type: "invalid_request_error",
            param: null,
            code: "model_not_found"
          })
        }
        const prompt = Text.promptTokens(chatRequest)
        if (prompt > config.contextWindow) {
          return yield* new Wire.OpenAiFailure({
            status: 400,
            message:
              `This model's maximum context length is ${config.contextWindow} tokens. However, your messages resulted in ${prompt} tokens. Please reduce the length of the messages.`,
            type: "invalid_request_error",
            param: "messages",
            code: "context_length_exceeded"
          })
        }
        const choices = Array.from({ length: chatRequest.n ?? 1 }, (_, index) => Text.choice(seed, chatRequest, index))
        const completion = choices.reduce((sum, c) => sum + c.completionTokens, 0)
        if (billed + prompt + completion > config.quota) return yield* outOfQuota(limits)
        const cost = Text.charge(chatRequest, prompt, choices)
        const verdict = yield* limiter.take(cost)
        limits = rateHeaders(verdict.headers)
        if (verdict._tag !== "Allowed") {
          yield* Effect.logDebug("rate limited").pipe(
            Effect.annotateLogs({
              service,
              model: chatRequest.model,
              bucket: verdict._tag === "Limited" ? verdict.bucket : "too-large"
            })
          )
          return yield* refuse429(verdict, chatRequest.model, cost)
        }
        billed += prompt + completion
        const uniform = Seeded.forRequest(seed + 1, { id, body: chatRequest })
        const wait = Faults.sample(config.serviceTime, uniform)
        if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
        return yield* complete(chatRequest, choices, prompt, uniform)
      }).pipe(
        Effect.catchTag("OpenAiFailure", (failure) => Effect.succeed(Wire.errorResponse(failure, limits)))
      )
      const finished = yield* Clock.currentTimeMillis
      if (seen.length < maxSeen) {
        const chatRequest = body as Wire.ChatRequest | undefined
        seen.push({
          requestId: id,
          retryCount,
          status: response.status,
          model: chatRequest?.model,
          stream: chatRequest?.stream === true
        })
      }
      return HttpServerResponse.setHeaders(response, {
        ...limits,
        ...base(id),
        "openai-processing-ms": String(finished - started)
      })
    }).pipe(Effect.withSpan("OpenAiEmulator.chat.completions"))

    const modelList = Effect.map(Clock.currentTimeMillis, (now) =>
      HttpServerResponse.setHeaders(
        Wire.json({
          object: "list",
          data: [...config.models].map((model) => ({
            id: model,
            object: "model",
            created: Math.floor(now / 1000),
            owned_by: "system"
          }))
        }),
        base(requestId())
      )).pipe(Effect.withSpan("OpenAiEmulator.models"))

    const invalidUrl = Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
      Wire.errorResponse(Wire.invalidUrl(request.method, request.url.split("?")[0]!), base(requestId())))

    const router = HttpRouter.empty.pipe(
      HttpRouter.post("/v1/chat/completions", chat),
      HttpRouter.get("/v1/models", modelList),
      HttpRouter.all("*", invalidUrl)
    )

    const failure = (status: number, decision: Faults.Decision) => {
      const headers = base(requestId())
      if (status === 429 || status === 503) {
        const wait = decision.statusEndsInMillis
        if (wait !== undefined) {
          headers["retry-after-ms"] = String(Math.ceil(wait))
          headers["retry-after"] = String(Math.ceil(wait / 1000))
        }
      }
      return Wire.errorResponse(Wire.injected(status), headers)
    }

    return { router, failure, requests: Effect.sync((): ReadonlyArray<Seen> => [...seen]), rateLimits: limiter.peek }
  })
