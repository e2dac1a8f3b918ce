/**
 * An OpenAI-compatible chat completions client (seed 001, layer 1): JSON
 * answers and streams of decoded chunks, against any base URL that speaks the
 * protocol (OpenAI, Ollama's `/v1`, a proxy, the emulator).
 *
 * Resilience is @bulwark/http's `ResilientClient` with the seed's numbers:
 * 5 attempts, 1 s to 60 s exponential backoff with jitter, a 30 s attempt
 * timeout and at least 100 ms between two requests (the core's `RateLimiter`
 * with a spacing). `retry-after-ms`, `Retry-After` and `x-ratelimit-reset-*`
 * set the waits; a tokens 429 takes its hint from the body or the token
 * bucket's reset; a 429 that waiting cannot help (`insufficient_quota`,
 * "Request too large") and every 4xx fail at once with their own tag
 * (`LlmErrors`). The budget the server reports in its `x-ratelimit-*` headers
 * is kept in `rateLimits`.
 *
 * @since 0.1.0
 */
import type * as Errors from "@bulwark/core/Errors"
import * as Policy from "@bulwark/core/Policy"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { InvalidInput, MalformedResponse, StreamFailed } from "./ClientErrors.js"
import { buffered } from "./internal/buffered.js"
import * as CallDuration from "./internal/callDuration.js"
import * as config from "./internal/config.js"
import * as decode from "./internal/decode.js"
import { hex32 } from "./internal/ids.js"
import * as Input from "./internal/input.js"
import { type Classified, classify } from "./internal/llmClassify.js"
import * as RateLimitHeaders from "./internal/llmRateLimits.js"
import { chunks } from "./internal/llmStream.js"
import * as Options_ from "./internal/options.js"
import * as Spans from "./internal/spans.js"
import * as LlmSchema from "./LlmSchema.js"

/**
 * @since 0.1.0
 * @category Tags
 */
export class Llm extends Context.Tag("@bulwark/clients/Llm")<Llm, Service>() {}

/**
 * One bucket of the server's rate limiter, as its headers last reported it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Bucket {
  /** `x-ratelimit-limit-*`: the budget of a window. */
  readonly limit: number | undefined
  /** `x-ratelimit-remaining-*`: what is left now. */
  readonly remaining: number | undefined
  /** `x-ratelimit-reset-*`: until the bucket is full again. */
  readonly reset: Duration.Duration | undefined
  /** The same, as epoch milliseconds of Effect's Clock. */
  readonly resetAt: number | undefined
}

/**
 * The rate-limit budget of the last answer that reported one.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RateLimits {
  /** When the answer came, epoch milliseconds of Effect's Clock. */
  readonly observedAt: number
  readonly requests: Bucket | undefined
  readonly tokens: Bucket | undefined
}

/**
 * What a call can fail with: the failures of `ResilientClient` (retries
 * exhausted, deadline, open breaker…), the refusals of `LlmErrors`, and a
 * body that is not what the protocol promises.
 *
 * @since 0.1.0
 * @category Models
 */
export type Failure = ResilientClient.Failure<Classified> | MalformedResponse | InvalidInput

/**
 * What a stream can fail with besides {@link Failure}: an error event after
 * it started, or no event within the attempt timeout (a stalled stream), as
 * `StreamFailed`. A connection cut mid-stream is `ConnectionFailed`.
 *
 * @since 0.1.0
 * @category Models
 */
export type StreamFailure = Failure | StreamFailed

/**
 * Options of one call.
 *
 * @since 0.1.0
 * @category Options
 */
export interface CallOptions {
  /**
   * The timeout of each attempt (to the response headers, and for JSON answers
   * to the end of the body), and in a stream the longest wait for each event.
   * Not a duration > 0: `InvalidInput`.
   */
  readonly timeout?: Duration.DurationInput | undefined
  /** Sent as `x-request-id`; default 32 random hex digits. */
  readonly requestId?: string | undefined
  /** Span attributes, to find a call of a job in a trace. */
  readonly task?: string | undefined
  readonly clientJobId?: string | undefined
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly service: string
  readonly baseUrl: string
  /** The model of a request that names none. */
  readonly model: string
  /** `POST {baseUrl}/chat/completions`, the JSON answer. */
  readonly create: (
    request: LlmSchema.ChatCompletionRequest,
    options?: CallOptions
  ) => Effect.Effect<LlmSchema.ChatCompletion, Failure>
  /**
   * The same with `stream: true`: the decoded chunks until `data: [DONE]`.
   * Only the request up to the response headers is retried; once chunks flow,
   * a failure ends the stream.
   */
  readonly stream: (
    request: LlmSchema.ChatCompletionRequest,
    options?: CallOptions
  ) => Stream.Stream<LlmSchema.ChatCompletionChunk, StreamFailure>
  /** The budget of the last answer that reported one; none before that (and with servers that never do). */
  readonly rateLimits: Effect.Effect<Option.Option<RateLimits>>
  /** Every budget reported from now on. */
  readonly rateLimitChanges: Stream.Stream<RateLimits>
  /** The policy shared by every call, for its stats. */
  readonly policy: Policy.Policy
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Names the service in errors, logs, spans and metrics. Default `"llm"`. */
  readonly service?: string | undefined
  /** Ends before `/chat/completions`: `https://api.openai.com/v1`, `http://localhost:11434/v1`. */
  readonly baseUrl?: string | undefined
  /** Sent as `Authorization: Bearer …`; none for servers without keys (Ollama). Never logged. */
  readonly apiKey?: Redacted.Redacted | undefined
  /** The model of a request that names none. Default {@link defaults}.model. */
  readonly model?: string | undefined
  /** Extra headers on every request (`OpenAI-Organization`, `OpenAI-Project`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /**
   * The policy: options merged into {@link defaults}`.policy` field by field
   * (`{ retry: { maxAttempts: 2 } }` keeps the seed's delays; `false` removes
   * a layer); `false` for no policy at all; or a policy already built, to
   * share its breaker and limiter with other code.
   */
  readonly policy?: config.PolicyOptions | Policy.Policy | false | undefined
  /**
   * Declares every call safe to repeat (default `true`: `ResilientClient`'s
   * `idempotent`), so a call is retried after a dropped connection, a timeout
   * or a 500 like any other failure, as in the seed: a completion changes
   * nothing on the server but the bill. `false` retries only failures that
   * say the request was not processed (429, 503, a refused connection).
   */
  readonly retryAmbiguous?: boolean | undefined
  /** Wraps the transport (a proxy, a test recorder), below the policy. */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/**
 * The seed's numbers.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  service: "llm",
  baseUrl: "https://api.openai.com/v1",
  model: "gpt-4o-mini",
  policy: {
    ...Policy.standardDefaults,
    /** Seed 001: "Max Retries: 5" logged as attempts 1/5 … 5/5; 1 s to 60 s, doubling, with jitter. */
    retry: { maxAttempts: 5, base: "1 second", factor: 2, maxDelay: "60 seconds", jitter: "full", retryAfter: "floor" },
    /** Seed 001: "30 second request timeout". */
    attemptTimeout: "30 seconds",
    /** Seed 001: "Local rate limiting (100ms minimum between requests)". */
    rateLimiter: { spacing: "100 millis" },
    /** Outages only: a rate-limit storm is waited out, not a reason to stop calling. */
    circuitBreaker: Options_.outageBreaker
  } satisfies config.PolicyOptions
} as const

const invalid = Options_.invalid("llm")

const decodeRequest = Schema.decodeUnknown(LlmSchema.ChatCompletionRequest, { onExcessProperty: "preserve" })

/**
 * Builds the client over the `HttpClient` in context. An invalid option fails
 * with `InvalidPolicy` naming it.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const service = options.service ?? defaults.service
    if (typeof service !== "string" || service === "") return yield* invalid("service", service, "a non-empty string")
    const model = options.model ?? defaults.model
    if (typeof model !== "string" || model.trim() === "") return yield* invalid("model", model, "a model name")
    const rawUrl = options.baseUrl ?? defaults.baseUrl
    const baseUrl = Options_.httpUrl(rawUrl)
    if (baseUrl === undefined) return yield* invalid("baseUrl", rawUrl, "an http(s) URL")
    const endpoint = `${baseUrl}/chat/completions`
    const origin = { service, endpoint: "POST /chat/completions" }
    const policy = yield* Options_.policy(service, defaults.policy, options.policy)

    const rateLimits = yield* SubscriptionRef.make(Option.none<RateLimits>())
    const record = (response: HttpClientResponse.HttpClientResponse) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const reported = RateLimitHeaders.fromHeaders(response.headers, now)
        return reported === undefined ? Effect.void : SubscriptionRef.set(rateLimits, Option.some(reported))
      })
    const transport = (options.transformClient ?? ((client) => client))(yield* HttpClient.HttpClient).pipe(
      HttpClient.tap(record)
    )
    const classifyOptions = { classify: classify(service, origin.endpoint) }
    const json = yield* ResilientClient.make({ service, policy, classify: classifyOptions }).pipe(
      Effect.provideService(HttpClient.HttpClient, buffered(transport))
    )
    const streaming = yield* ResilientClient.make({ service, policy, classify: classifyOptions }).pipe(
      Effect.provideService(HttpClient.HttpClient, transport)
    )
    const retryAmbiguous = options.retryAmbiguous ?? true
    const apiKey = options.apiKey
    // Redacted.value would throw on a plain string at the first call: refuse it here, without echoing the key
    if (apiKey !== undefined && !Redacted.isRedacted(apiKey)) {
      return yield* invalid(
        "apiKey",
        `a ${typeof apiKey}`,
        "a Redacted value (Redacted.make(key)), so it is never logged"
      )
    }
    const attemptTimeout = policy.layers.attemptTimeout?.after

    const prepare = (request: LlmSchema.ChatCompletionRequest, stream: boolean, call: CallOptions) =>
      Effect.gen(function*() {
        const operation = stream ? "stream" : "create"
        const timeout = yield* CallDuration.timeout({ service, operation }, "timeout", call.timeout)
        const body = yield* decodeRequest(request).pipe(
          Effect.mapError((error) => Input.fromParseError({ service, operation }, request, error))
        )
        const requestId = call.requestId ?? (yield* hex32)
        const chosen = body.model ?? model
        yield* Effect.annotateCurrentSpan({ "llm.stream": stream, "bulwark.request_id": requestId })
        let http = HttpClientRequest.post(endpoint).pipe(
          HttpClientRequest.setHeaders({
            ...options.headers,
            accept: stream ? "text/event-stream" : "application/json"
          }),
          HttpClientRequest.bodyUnsafeJson({ ...body, model: chosen, ...(stream ? { stream: true } : {}) })
        )
        if (apiKey !== undefined) http = HttpClientRequest.bearerToken(http, Redacted.value(apiKey))
        const executeOptions: ResilientClient.RequestOptions = {
          requestId,
          idempotent: retryAmbiguous,
          ...(timeout === undefined ? {} : { timeout })
        }
        // Around the request and the reading of its answer: the retry warnings carry the job id too.
        const annotate = Spans.annotate({
          service,
          operation,
          model: chosen,
          task: call.task,
          clientJobId: call.clientJobId
        })
        // a stream's wait for each event is bounded like the wait for its headers
        const idle = CallDuration.finiteOrNone(timeout ?? attemptTimeout)
        return { http, executeOptions, chosen, annotate, idle }
      })

    const create = Effect.fn("Llm.create")(
      function*(request: LlmSchema.ChatCompletionRequest, call: CallOptions = {}) {
        const { annotate, executeOptions, http } = yield* prepare(request, false, call)
        return yield* json.execute(http, executeOptions).pipe(
          Effect.flatMap(decode.json(LlmSchema.ChatCompletion, origin)),
          annotate
        )
      },
      (effect) => Effect.annotateLogs(effect, { service })
    )

    const stream = (request: LlmSchema.ChatCompletionRequest, call: CallOptions = {}) =>
      Stream.unwrap(
        Effect.gen(function*() {
          const { annotate, executeOptions, http, idle } = yield* prepare(request, true, call)
          const response = yield* annotate(streaming.execute(http, executeOptions))
          return chunks(response, origin, idle)
        }).pipe(Effect.withSpan("Llm.stream"))
      )

    return {
      service,
      baseUrl,
      model,
      create,
      stream,
      rateLimits: SubscriptionRef.get(rateLimits),
      rateLimitChanges: Stream.filterMap(rateLimits.changes, (limits) => limits),
      policy
    } satisfies Service
  })

/**
 * The client as a layer.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}): Layer.Layer<Llm, Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Layer.effect(Llm, make(options))

/**
 * The environment variables {@link layerConfig} reads, under `LLM_`.
 *
 * @since 0.1.0
 * @category Config
 */
export const configKeys = {
  apiKey: "API_KEY",
  baseUrl: "BASE_URL",
  model: "MODEL",
  spacing: "MIN_REQUEST_INTERVAL",
  ...config.policyKeys
} as const

/** The variables that can explain a refused option field (see `Options_.refusedByConfig`). */
const configFields: Readonly<Record<string, ReadonlyArray<string>>> = {
  ...Options_.policyVariables,
  spacing: [configKeys.spacing],
  baseUrl: [configKeys.baseUrl],
  model: [configKeys.model]
}

const nonBlank = (name: string): Config.Config<string> =>
  Config.mapOrFail(Config.string(name), (text) =>
    text.trim() === ""
      ? Either.left(ConfigError.InvalidData([], "Expected a non-blank value"))
      : Either.right(text.trim()))

/**
 * The options from the environment, under `LLM_`: `LLM_API_KEY` (a secret),
 * `LLM_BASE_URL`, `LLM_MODEL`, `LLM_MIN_REQUEST_INTERVAL` (a duration or
 * `off`) and the policy's `LLM_RETRY_MAX_ATTEMPTS`, `LLM_RETRY_BASE_DELAY`,
 * `LLM_RETRY_MAX_DELAY`, `LLM_TIMEOUT`, `LLM_TOTAL_TIMEOUT`,
 * `LLM_BREAKER_FAILURE_THRESHOLD`, `LLM_BREAKER_OPEN_DURATION`. A variable
 * that is set wins over `overrides`, which win over {@link defaults}; a bad
 * value is a `ConfigError` naming the variable. A built policy (or `false`)
 * in `overrides` reads no policy variable.
 *
 * @since 0.1.0
 * @category Config
 */
export const optionsConfig = (overrides: Options = {}): Config.Config<Options> => {
  const basePolicy = Options_.configBase(defaults.policy, overrides.policy)
  return Config.nested(
    Config.map(
      Config.all({
        apiKey: config.optional(Config.redacted(nonBlank(configKeys.apiKey))),
        baseUrl: config.optional(config.url(configKeys.baseUrl)),
        model: config.optional(nonBlank(configKeys.model)),
        spacing: config.optional(config.durationOrOff(configKeys.spacing)),
        policy: basePolicy === undefined ? Config.succeed(undefined) : config.policy(basePolicy)
      }),
      (env): Options => ({
        ...overrides,
        ...(env.apiKey === undefined ? {} : { apiKey: env.apiKey }),
        ...(env.baseUrl === undefined ? {} : { baseUrl: env.baseUrl }),
        ...(env.model === undefined ? {} : { model: env.model.trim() }),
        policy: env.policy === undefined ? overrides.policy : {
          ...env.policy,
          ...(env.spacing === undefined
            ? {}
            : { rateLimiter: env.spacing === false ? false : { spacing: env.spacing } })
        }
      })
    ),
    "LLM"
  )
}

/**
 * The client as a layer configured by the environment ({@link optionsConfig}).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  overrides: Options = {}
): Layer.Layer<Llm, ConfigError.ConfigError | Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Layer.effect(
    Llm,
    Effect.flatMap(
      optionsConfig(overrides),
      (read) => Effect.catchTag(make(read), "InvalidPolicy", Options_.refusedByConfig("LLM", configFields))
    )
  )
