/**
 * The Ollama client: `generate` and `chat` (one answer, or a `Stream` of
 * chunks), `tags`, `ps` and `version`, with seed 002's resilience — 300 s
 * request timeout (180 s for small models, 600 s for 70B and up), 3 retries
 * 2 s → 4 s → 8 s … up to 60 s, retrying read timeouts, 503 "server busy",
 * 429 and connection errors, and failing a 404 or 400 at once.
 *
 * A generation changes nothing on the server, so `generate` and `chat` are
 * retried after an ambiguous failure (a timeout) like a GET. A stream is
 * retried only until its response starts: once chunks may have reached the
 * caller, a cut stream fails with `StreamTruncated` instead of being sent
 * again, which would repeat output.
 *
 * @since 0.1.0
 */
import * as Classify from "@bulwark/core/Classify"
import type * as Errors from "@bulwark/core/Errors"
import * as Policy from "@bulwark/core/Policy"
import * as HttpFailures from "@bulwark/http/HttpFailures"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { InvalidInput, MalformedResponse, StreamFailed } from "./ClientErrors.js"
import { buffered } from "./internal/buffered.js"
import * as Decode from "./internal/decode.js"
import * as OllamaCall from "./internal/ollamaCall.js"
import { config, keys } from "./internal/ollamaConfig.js"
import { defaultHost, parseHost } from "./internal/ollamaHost.js"
import { parameterBillions, sizeClass } from "./internal/ollamaModelSize.js"
import * as Resolve from "./internal/ollamaOptions.js"
import * as OllamaStream from "./internal/ollamaStream.js"
import * as Options_ from "./internal/options.js"
import * as Spans from "./internal/spans.js"
import type { ModelNotFound, RequestRefused, StreamTruncated } from "./OllamaErrors.js"
import * as OllamaSchema from "./OllamaSchema.js"

/**
 * @since 0.1.0
 * @category Tags
 */
export class Ollama extends Context.Tag("@bulwark/clients/Ollama")<Ollama, Service>() {}

/**
 * What a call can fail with: the resilient client's failures (`RetriesExhausted`
 * carrying the last `Overloaded`, `TimedOut`…; an `HttpRejected` for a status
 * Ollama does not document), a malformed answer, or Ollama's own refusals.
 *
 * @since 0.1.0
 * @category Models
 */
export type Failure = ResilientClient.Failure | MalformedResponse | ModelNotFound | RequestRefused | InvalidInput

/**
 * What a stream can fail with besides {@link Failure}.
 *
 * @since 0.1.0
 * @category Models
 */
export type StreamFailure = Failure | StreamFailed | StreamTruncated

/**
 * @since 0.1.0
 * @category Options
 */
export interface CallOptions {
  /** The timeout of each attempt (and the read timeout of a stream), instead of the model's. */
  readonly timeout?: Duration.DurationInput | undefined
  /** The job this call works for: on the span and every log line (Ollama itself has no such field). */
  readonly clientJobId?: string | undefined
  /** The job's task (`review`, `summarize`…): on the span and every log line. */
  readonly task?: string | undefined
  /** Sent as `x-request-id`; default random. */
  readonly requestId?: string | undefined
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** The base URL requests go to. */
  readonly baseUrl: string
  /** One answer (`"stream": false`): the object with `done: true`, the whole text and the metrics. */
  readonly generate: (
    request: OllamaSchema.GenerateRequest,
    options?: CallOptions
  ) => Effect.Effect<OllamaSchema.GenerateChunk, Failure>
  /** The answer token by token; the last chunk has `done: true` and the metrics. */
  readonly generateStream: (
    request: OllamaSchema.GenerateRequest,
    options?: CallOptions
  ) => Stream.Stream<OllamaSchema.GenerateChunk, StreamFailure>
  readonly chat: (
    request: OllamaSchema.ChatRequest,
    options?: CallOptions
  ) => Effect.Effect<OllamaSchema.ChatChunk, Failure>
  readonly chatStream: (
    request: OllamaSchema.ChatRequest,
    options?: CallOptions
  ) => Stream.Stream<OllamaSchema.ChatChunk, StreamFailure>
  /** The local models. */
  readonly tags: Effect.Effect<OllamaSchema.TagsResponse, Failure>
  /** The models in memory. */
  readonly ps: Effect.Effect<OllamaSchema.PsResponse, Failure>
  readonly version: Effect.Effect<OllamaSchema.VersionResponse, Failure>
  /**
   * Polls `/api/ps` every `interval` until the server has capacity, as seed
   * 002's `wait_for_ollama_capacity`: `true` when it does, `false` when
   * `timeout` passed first. See {@link WaitOptions}; an option that is no
   * duration (or a `maxLoaded` that is no whole number ≥ 0) is `InvalidInput`.
   */
  readonly waitForCapacity: (options: WaitOptions) => Effect.Effect<boolean, InvalidInput>
  /** The attempt timeout of a model: `timeouts.byModel`, else the size rule, else the default (`undefined`: none). */
  readonly timeoutFor: (model: string) => Duration.Duration | undefined
  /** The resilient client underneath (its policy, stats, breaker). */
  readonly client: ResilientClient.ResilientClient
}

/**
 * `/api/ps` does not report free slots, so "capacity" is what it can show:
 * the server answers `/api/ps` within `interval` (a server stuck loading or
 * swapping does not), and, with `maxLoaded`, fewer than that many models are
 * in memory (so a new one can load without evicting another).
 *
 * @since 0.1.0
 * @category Options
 */
export interface WaitOptions {
  readonly timeout: Duration.DurationInput
  /** Between polls, and the timeout of each. Default 2 seconds (the seed's `watch -n 2`). */
  readonly interval?: Duration.DurationInput | undefined
  readonly maxLoaded?: number | undefined
}

/**
 * Timeouts by model; `false` in {@link Options.timeouts} gives every model the
 * policy's `attemptTimeout`.
 *
 * @since 0.1.0
 * @category Options
 */
export interface ModelTimeouts {
  /** Below 13B parameters. */
  readonly small?: Duration.DurationInput | undefined
  /** 70B parameters and more. */
  readonly large?: Duration.DurationInput | undefined
  /** By exact model name (`codellama:70b`), before the size rule; a name without tag means `:latest`. */
  readonly byModel?: Readonly<Record<string, Duration.DurationInput>> | undefined
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** An `OLLAMA_HOST` value: `127.0.0.1:11434`, `https://ollama.example`. Default `http://127.0.0.1:11434`. */
  readonly baseUrl?: string | undefined
  /**
   * Over {@link defaults}.policy: `retry` is merged field by field (keep
   * the seed's `retryOn` while changing `maxAttempts`), other layers are
   * replaced whole; `false` removes one. `attemptTimeout` is the timeout of
   * medium and unsized models and of `tags` / `ps` / `version`.
   */
  readonly policy?: ResilientClient.Options["policy"] & Omit<Policy.Options, "service"> | undefined
  readonly timeouts?: ModelTimeouts | false | undefined
  /** Applied to the `HttpClient` in context before the policy (a proxy, a header, a test double). */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/**
 * The failures seed 002 retries: a read timeout, 503 (queue full), 429 and
 * connection errors, plus the refusals of Bulwark's own layers that pass with
 * time (an open breaker when one is configured). A 500 is not among them:
 * the seed fails it at once, like 404 and 400.
 *
 * @since 0.1.0
 * @category Predicates
 */
export const isRetryable: Classify.Predicate = Classify.or(
  Classify.tagged("Overloaded", "Unavailable", "RateLimited", "TimedOut", "ConnectionFailed", "AttemptTimedOut"),
  (error) => Classify.isLocalRejection(error) && Classify.isRetryable(error)
)

/**
 * Seed 002's `is_ollama_overloaded`: the failure says "too busy, try later" —
 * a full queue (503), a 429 or a timeout, also as the last error of a
 * `RetriesExhausted`. A refused connection is not overload: the server is down.
 *
 * @since 0.1.0
 * @category Predicates
 */
export const isOverloaded = (error: unknown): boolean => {
  switch (Classify.tagOf(error)) {
    case "RetriesExhausted":
      return isOverloaded((error as { readonly lastError: unknown }).lastError)
    case "Overloaded":
    case "Unavailable":
    case "RateLimited":
    case "TimedOut":
    case "AttemptTimedOut":
      return true
    default:
      return false
  }
}

/**
 * Seed 002's numbers.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  /** Ollama's own default (`OLLAMA_HOST`). */
  baseUrl: defaultHost,
  policy: {
    /** "3 retries, 2 s doubling, 60 s max": 4 calls; the seed has no jitter. */
    retry: {
      maxAttempts: 4,
      base: "2 seconds",
      factor: 2,
      maxDelay: "60 seconds",
      jitter: "none",
      retryOn: isRetryable
    },
    /** The seed's `--timeout` default (ReadTimeout 300 s). */
    attemptTimeout: "300 seconds",
    /** The seed has no overall deadline: 4 × 300 s plus backoff is its worst case. */
    totalTimeout: false
  } satisfies Omit<Policy.Options, "service">,
  /** Seed 002's "Adjust Timeout Based on Model Size": 7B 180 s, 13-34B 300 s (the default), 70B+ 600 s. */
  timeouts: { small: "180 seconds", large: "600 seconds" } satisfies ModelTimeouts,
  /** Seed 002's `watch -n 2 'curl /api/ps'`. */
  pollInterval: "2 seconds",
  /** Enabled by `OLLAMA_BREAKER_*` (the seed has none): a full queue says the server is up, so it does not count. */
  circuitBreaker: {
    openDuration: "60 seconds",
    isFailure: Classify.tagged("ConnectionFailed", "TimedOut", "AttemptTimedOut", "ServerError")
  }
} as const

/**
 * The parameter count in billions a model name states (`qwen2.5-coder:7b` → 7,
 * `mixtral:8x7b` → 56, `smollm:135m` → 0.135), or `undefined`.
 *
 * @since 0.1.0
 * @category Timeouts
 */
export const parameterSize: (model: string) => number | undefined = parameterBillions

/**
 * The size rule: below 13B `small`, from 70B `large`, else `medium`;
 * `unknown` when the name states no size.
 *
 * @since 0.1.0
 * @category Timeouts
 */
export const modelSizeClass: (model: string) => "small" | "medium" | "large" | "unknown" = sizeClass

const service = "ollama"

/**
 * Builds the client over the `HttpClient` in context. Invalid options
 * (a base URL that is no host, a timeout that is no duration, a bad policy)
 * fail with `InvalidPolicy`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Service, Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const baseUrl = yield* Either.mapLeft(
      parseHost(options.baseUrl ?? defaults.baseUrl),
      (reason) => Resolve.invalid("baseUrl", options.baseUrl, `an OLLAMA_HOST value or http(s) URL (${reason})`)
    )
    const resolved = Options_.mergePolicy(defaults.policy, options.policy)
    const policy = yield* Policy.make({ ...resolved, service })
    const fallback = policy.layers.attemptTimeout?.after
    const timeoutFor = yield* Resolve.timeoutRule(options.timeouts ?? defaults.timeouts, defaults.timeouts, fallback)
    const base = yield* HttpClient.HttpClient
    const transformed = options.transformClient === undefined ? base : options.transformClient(base)
    const classify = { isOverloaded: HttpFailures.isOllamaBusy }
    const streaming = yield* ResilientClient.make({ service, policy, classify }).pipe(
      Effect.provideService(HttpClient.HttpClient, transformed)
    )
    const whole = yield* ResilientClient.make({ service, policy, classify }).pipe(
      Effect.provideService(HttpClient.HttpClient, buffered(transformed))
    )

    const sender = { service, baseUrl, timeoutFor }

    const one = <A, I>(
      name: string,
      requestSchema: Schema.Schema<A, I>,
      responseSchema: Schema.Schema<any, any>,
      path: string
    ) =>
    (request: A, call: CallOptions = {}) =>
      OllamaCall.send(sender, whole, name, requestSchema, path, request, false, call).pipe(
        Effect.flatMap(({ endpoint, response }) => Decode.json(responseSchema, { service, endpoint })(response)),
        Effect.withSpan(`Ollama.${name}`, { kind: "client" })
      )

    const many = <A, I, C extends { readonly done: boolean }>(
      name: string,
      requestSchema: Schema.Schema<A, I>,
      chunkSchema: Schema.Schema<C, any>,
      path: string
    ) =>
    (request: A, call: CallOptions = {}): Stream.Stream<C, StreamFailure> =>
      Stream.unwrap(
        OllamaCall.send(sender, streaming, name, requestSchema, path, request, true, call).pipe(
          Effect.map(({ endpoint, model, response, timeout }) =>
            OllamaStream.chunks(chunkSchema, {
              service,
              endpoint,
              model,
              readTimeout: timeout === undefined ? undefined : Duration.decode(timeout)
            }, response)
          ),
          Effect.withSpan(`Ollama.${name}`, { kind: "client" })
        )
      )

    const get = <A, I>(name: string, path: string, schema: Schema.Schema<A, I>) =>
      whole.execute(HttpClientRequest.get(`${baseUrl}${path}`).pipe(HttpClientRequest.acceptJson)).pipe(
        Effect.flatMap(Decode.json(schema, { service, endpoint: `GET ${path}` })),
        Spans.annotate({ service, operation: name }),
        Effect.withSpan(`Ollama.${name}`, { kind: "client" })
      )

    const waitForCapacity = (wait: WaitOptions) =>
      OllamaCall.waitForCapacity(whole, baseUrl, { ...wait, interval: wait.interval ?? defaults.pollInterval })

    return {
      baseUrl,
      generate: one("generate", OllamaSchema.GenerateRequest, OllamaSchema.GenerateChunk, "/api/generate"),
      generateStream: many("generateStream", OllamaSchema.GenerateRequest, OllamaSchema.GenerateChunk, "/api/generate"),
      chat: one("chat", OllamaSchema.ChatRequest, OllamaSchema.ChatChunk, "/api/chat"),
      chatStream: many("chatStream", OllamaSchema.ChatRequest, OllamaSchema.ChatChunk, "/api/chat"),
      tags: get("tags", "/api/tags", OllamaSchema.TagsResponse),
      ps: get("ps", "/api/ps", OllamaSchema.PsResponse),
      version: get("version", "/api/version", OllamaSchema.VersionResponse),
      waitForCapacity,
      timeoutFor,
      client: whole
    } satisfies Service
  })

/**
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}): Layer.Layer<Ollama, Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Layer.effect(Ollama, make(options))

/**
 * The client from the environment (prefix `OLLAMA_`): `OLLAMA_HOST` as Ollama
 * reads it, `OLLAMA_TIMEOUT` (medium and unsized models, `off` for none),
 * `OLLAMA_TIMEOUT_SMALL`, `OLLAMA_TIMEOUT_LARGE`, `OLLAMA_MODEL_TIMEOUTS`
 * (`codellama:70b=15 minutes,llama3.2=60 seconds`), `OLLAMA_TOTAL_TIMEOUT`,
 * `OLLAMA_RETRY_MAX_ATTEMPTS`, `OLLAMA_RETRY_BASE_DELAY`,
 * `OLLAMA_RETRY_MAX_DELAY`, and `OLLAMA_BREAKER_FAILURE_THRESHOLD` /
 * `OLLAMA_BREAKER_OPEN_DURATION`, either of which turns a circuit breaker on.
 * A variable that is set wins over `overrides`, which win over
 * {@link defaults}; a value each check accepts but the policy refuses (a
 * `TIMEOUT_SMALL` of zero, a `TOTAL_TIMEOUT` below the attempt timeout) is a
 * `ConfigError` naming the variable too.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  overrides: Options = {}
): Layer.Layer<Ollama, ConfigError.ConfigError | Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Layer.effect(
    Ollama,
    Effect.flatMap(config(envBase(overrides)), (fromEnv) => {
      const given = overrides.timeouts === false ? undefined : overrides.timeouts
      const read = fromEnv.timeouts
      const anyRead = read.small !== undefined || read.large !== undefined || Object.keys(read.byModel).length > 0
      const timeouts = overrides.timeouts === false && !anyRead
        ? false as const
        : { ...given, ...read, byModel: { ...given?.byModel, ...read.byModel } }
      return make({
        ...overrides,
        ...(fromEnv.baseUrl === undefined ? {} : { baseUrl: fromEnv.baseUrl }),
        policy: fromEnv.policy,
        timeouts
      }).pipe(Effect.catchTag("InvalidPolicy", Options_.refusedByConfig("OLLAMA", configFields)))
    })
  )

/** What the variables are read over: the defaults with `overrides` merged in. */
const envBase = (overrides: Options) => {
  const policy = Options_.mergePolicy(defaults.policy, overrides.policy)
  const given = policy.circuitBreaker
  return {
    policy,
    // a BREAKER_ variable turns on the breaker given in code, else the default one
    circuitBreaker: typeof given === "object" ? { ...defaults.circuitBreaker, ...given } : defaults.circuitBreaker
  }
}

/** The variables that can explain a refused option field (see `Options_.refusedByConfig`). */
const configFields: Readonly<Record<string, ReadonlyArray<string>>> = {
  ...Options_.policyVariables,
  baseUrl: [keys.host],
  "timeouts.small": [keys.timeoutSmall],
  "timeouts.large": [keys.timeoutLarge],
  "timeouts.byModel": [keys.modelTimeouts]
}
