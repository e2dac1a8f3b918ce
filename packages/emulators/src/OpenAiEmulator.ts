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
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Emulator from "./Emulator.js"
import * as EmulatorStats from "./EmulatorStats.js"
import type * as Faults from "./Faults.js"
import type * as Limits from "./internal/openaiLimits.js"
import * as OpenAiOptions from "./internal/openaiOptions.js"
import * as Routes from "./internal/openaiRoutes.js"

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
    const config = yield* OpenAiOptions.settings(options, defaults)
    const stats = yield* EmulatorStats.make({ service: "openai" })
    const routes = yield* Routes.make(config)
    const emulator = yield* Emulator.serve(routes.router, {
      ...options,
      seed: config.seed,
      stats,
      failure: routes.failure
    })
    return { ...emulator, requests: routes.requests, rateLimits: routes.rateLimits }
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
