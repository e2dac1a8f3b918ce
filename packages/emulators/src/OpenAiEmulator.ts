/**
 * A loopback OpenAI API: `POST /v1/chat/completions` (JSON, or Server-Sent
 * Events with `stream: true`), `GET /v1/models`, OpenAI's error envelope for
 * every non-2xx answer, and its rate limiter: a token bucket of requests and
 * one of tokens, the six `x-ratelimit-*` headers on every answer of the chat
 * route, and the 429 `rate_limit_exceeded` with `retry-after` /
 * `retry-after-ms` when a bucket is empty.
 *
 * Replies are synthetic words (or tool calls) drawn from the seed and the
 * request; service times from seeded distributions, waited with
 * `Effect.sleep`; the buckets refill on Effect's Clock.
 *
 * @since 0.1.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Emulator from "./Emulator.js"
import * as EmulatorStats from "./EmulatorStats.js"
import * as Faults from "./Faults.js"
import * as Completion from "./internal/openaiCompletion.js"
import * as Limits from "./internal/openaiLimits.js"
import * as Text from "./internal/openaiText.js"
import * as Wire from "./internal/openaiWire.js"
import * as Seeded from "./internal/seeded.js"

/**
 * @since 0.1.0
 * @category Tags
 */
export class OpenAiEmulator extends Context.Tag("@bulwark/emulators/OpenAiEmulator")<OpenAiEmulator, Service>() {}

/**
 * One request the chat route answered, in order of arrival.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Seen {
  readonly requestId: string
  /** The SDK's `X-Stainless-Retry-Count` header (0 on its first attempt), when sent. */
  readonly retryCount: number | undefined
  readonly status: number
  readonly model: string | undefined
  readonly stream: boolean
}

/**
 * The six `x-ratelimit-*` values, numbers in milliseconds for the resets.
 *
 * @since 0.1.0
 * @category Models
 */
export type RateLimits = Limits.RateHeaders

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service extends Emulator.Emulator {
  /** The chat requests answered so far (the first 10 000), with their retry counts. */
  readonly requests: Effect.Effect<ReadonlyArray<Seen>>
  /** The buckets now, as the next answer's headers would say. */
  readonly rateLimits: Effect.Effect<RateLimits>
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options extends Emulator.CommonOptions {
  /** The models that exist; any other answers 404 `model_not_found`. Default `gpt-4o-mini`, `gpt-4o`, `gpt-4.1-mini`. */
  readonly models?: ReadonlyArray<string> | undefined
  /** When set, every request must carry `Authorization: Bearer <apiKey>` (401 otherwise). Default: no check. */
  readonly apiKey?: string | undefined
  /** The request budget per `window` (`x-ratelimit-limit-requests`). Default 500. */
  readonly requestsPerMinute?: number | undefined
  /** The token budget per `window` (`x-ratelimit-limit-tokens`). Default 200 000. */
  readonly tokensPerMinute?: number | undefined
  /** How long an empty bucket takes to refill. Default one minute; shorten it in tests. */
  readonly window?: Duration.DurationInput | undefined
  /** Time before an answer (before the first byte of a stream), a `Faults` distribution. Default `"0ms"`. */
  readonly serviceTime?: string | undefined
  /** Time between streamed chunks, a `Faults` distribution. Default `"0ms"`. */
  readonly tokenLatency?: string | undefined
  /** Which retry hints a 429 carries. Default `"both"`. */
  readonly retryHints?: "both" | "retry-after" | "retry-after-ms" | "none" | undefined
  /** When set, a 429 carries `x-should-retry` with this value. Default: absent. */
  readonly shouldRetry?: boolean | undefined
  /** Tokens billable in all (prompt + completion); past them every request is a 429 `insufficient_quota`. Default: unlimited. */
  readonly quota?: number | undefined
  /** Probability that a stream ends halfway with an error event instead of `[DONE]`. Default 0. */
  readonly midStreamError?: number | undefined
}

/**
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  models: ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"],
  requestsPerMinute: 500,
  tokensPerMinute: 200_000,
  window: Duration.minutes(1),
  serviceTime: "0ms",
  tokenLatency: "0ms",
  retryHints: "both",
  contextWindow: 128_000,
  organization: "org-bulwark-emulator"
} as const

const service = "openai"
const maxSeen = 10_000

const invalid = (option: string, reason: string) => new Emulator.InvalidEmulatorOption({ service, option, reason })

const checkOptions = (options: Options) =>
  Effect.gen(function*() {
    const integer = (option: string, value: number | undefined, fallback: number, min: number) =>
      value === undefined
        ? Either.right(fallback)
        : Number.isSafeInteger(value) && value >= min
        ? Either.right(value)
        : Either.left(invalid(option, `must be an integer ≥ ${min}, got ${value}`))
    const distribution = (option: string, value: string | undefined, fallback: string) =>
      Either.mapLeft(Faults.parseDistribution(value ?? fallback), (reason) => invalid(option, reason))
    const requestsPerMinute = yield* integer(
      "requestsPerMinute",
      options.requestsPerMinute,
      defaults.requestsPerMinute,
      1
    )
    const tokensPerMinute = yield* integer("tokensPerMinute", options.tokensPerMinute, defaults.tokensPerMinute, 1)
    const quota = options.quota === undefined ? Infinity : yield* integer("quota", options.quota, 0, 0)
    const serviceTime = yield* distribution("serviceTime", options.serviceTime, defaults.serviceTime)
    const tokenLatency = yield* distribution("tokenLatency", options.tokenLatency, defaults.tokenLatency)
    let windowMillis = Duration.toMillis(defaults.window)
    if (options.window !== undefined) {
      const decoded = Duration.decodeUnknown(options.window)
      windowMillis = decoded._tag === "Some" ? Duration.toMillis(decoded.value) : NaN
      if (!(windowMillis > 0 && Number.isFinite(windowMillis))) {
        return yield* invalid("window", `must be a positive finite duration, got ${String(options.window)}`)
      }
    }
    const models = options.models ?? defaults.models
    if (!Array.isArray(models) || models.length === 0) return yield* invalid("models", "must name at least one model")
    for (const model of models) {
      if (typeof model !== "string" || model.trim() === "") return yield* invalid("models", "a model name is empty")
    }
    if (new Set(models).size !== models.length) return yield* invalid("models", "a model is listed twice")
    if (options.apiKey !== undefined && (typeof options.apiKey !== "string" || options.apiKey === "")) {
      return yield* invalid("apiKey", "must be a non-empty string")
    }
    const retryHints = options.retryHints ?? defaults.retryHints
    if (!["both", "retry-after", "retry-after-ms", "none"].includes(retryHints)) {
      return yield* invalid(
        "retryHints",
        `must be both, retry-after, retry-after-ms or none, got ${String(retryHints)}`
      )
    }
    if (options.shouldRetry !== undefined && typeof options.shouldRetry !== "boolean") {
      return yield* invalid("shouldRetry", "must be a boolean")
    }
    const midStreamError = options.midStreamError ?? 0
    if (!(typeof midStreamError === "number" && midStreamError >= 0 && midStreamError <= 1)) {
      return yield* invalid("midStreamError", `must be a probability in [0, 1], got ${String(midStreamError)}`)
    }
    return {
      requestsPerMinute,
      tokensPerMinute,
      quota,
      serviceTime,
      tokenLatency,
      windowMillis,
      models: new Set(models),
      retryHints,
      midStreamError
    }
  })

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

/**
 * Starts an OpenAI emulator on 127.0.0.1 for the life of the scope.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  Service,
  Faults.InvalidFaultSpec | Emulator.InvalidEmulatorOption | HttpServerError.ServeError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const config = yield* checkOptions(options)
    const seed = options.seed ?? 0
    const stats = yield* EmulatorStats.make({ service })
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
      "openai-organization": defaults.organization
    })

    const authorize = (authorization: string | undefined) => {
      if (options.apiKey === undefined) return Effect.void
      const key = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? "")?.[1]?.trim()
      if (key === options.apiKey) return Effect.void
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
            `Request too large for ${model} in organization ${defaults.organization} on tokens per min (TPM): Limit ${verdict.headers.limitTokens}, Requested ${tokens}. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.`,
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
      if (options.shouldRetry !== undefined) hints["x-should-retry"] = String(options.shouldRetry)
      return new Wire.OpenAiFailure({
        status: 429,
        message:
          `Rate limit reached for ${model} in organization ${defaults.organization} on ${what}: Limit ${limit}, Used ${verdict.used}, Requested ${requested}. Please try again in ${
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
        if (prompt > defaults.contextWindow) {
          return yield* new Wire.OpenAiFailure({
            status: 400,
            message:
              `This model's maximum context length is ${defaults.contextWindow} tokens. However, your messages resulted in ${prompt} tokens. Please reduce the length of the messages.`,
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

    const emulator = yield* Emulator.serve(router, {
      port: options.port,
      faults: options.faults,
      seed,
      stats,
      failure: (status, decision) => {
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
    })
    return {
      ...emulator,
      requests: Effect.sync(() => [...seen]),
      rateLimits: limiter.peek
    }
  })

/**
 * The emulator as a layer: it listens while the layer is alive.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<OpenAiEmulator, Faults.InvalidFaultSpec | Emulator.InvalidEmulatorOption | HttpServerError.ServeError> =>
  Layer.scoped(OpenAiEmulator, make(options))
