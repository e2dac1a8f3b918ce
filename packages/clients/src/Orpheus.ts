/**
 * The Orpheus music-model services (tobert/halfremembered-models) as one typed
 * service: `generate`, `generateSeeded`, `continue`, `bridge`, `loops` and
 * `classify`, each routed to its model's server (ports 2000-2005 by default),
 * replacing hootenanny's hand-written client (seed 000).
 *
 * - Every call carries a `client_job_id` (the caller's, checked against the
 *   services' pattern before anything is sent, or one the client makes up), in
 *   the JSON body for v1 servers and in the query for v2 servers.
 * - A busy GPU (429 "GPU busy", or a busy 503) waits exactly what the server's
 *   Retry-After says (5 s when it says nothing, as the seed), does not use up an
 *   attempt and does not open the breaker; the total deadline bounds the waiting,
 *   and giving up is a {@link GpuBusy} naming the job id.
 * - A 422 is an {@link InputRejected} carrying the service's `detail`, not retried.
 * - MIDI goes out as standard base64 of the bytes and comes back as bytes.
 *
 * @since 0.1.0
 */
import * as Classify from "@bulwark/core/Classify"
import type * as Errors from "@bulwark/core/Errors"
import type * as Policy from "@bulwark/core/Policy"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { InvalidInput, MalformedResponse } from "./ClientErrors.js"
import { buffered } from "./internal/buffered.js"
import * as config from "./internal/config.js"
import * as Options_ from "./internal/options.js"
import * as Busy from "./internal/orpheusBusy.js"
import * as Call from "./internal/orpheusCall.js"
import * as Resolve from "./internal/orpheusOptions.js"
import * as Request from "./internal/orpheusRequest.js"
import * as Spans from "./internal/spans.js"
import { GpuBusy, InputRejected } from "./OrpheusSchema.js"
import type { Classification, Generation, GeneratorModel, Health, Meta, Model } from "./OrpheusSchema.js"

export {
  /** @since 0.1.0 */
  GpuBusy,
  /** @since 0.1.0 */
  InputRejected
}

/**
 * @since 0.1.0
 * @category Models
 */
export type { Classification, Generation, GeneratorModel, Meta, Model }

/**
 * Sampling parameters; unset ones are sent with hootenanny's defaults
 * (temperature 1.0, top_p 0.95, max_tokens 1024).
 *
 * @since 0.1.0
 * @category Options
 */
export interface Sampling {
  /** In [0, 2.0]; below 0.01 it is sent as 0.01 (v2 refuses less, v1 clamps). */
  readonly temperature?: number | undefined
  /** In [0, 1]. */
  readonly topP?: number | undefined
  /** Tokens per variation, a whole number in [1, 8192]. */
  readonly maxTokens?: number | undefined
}

/**
 * What every call can carry.
 *
 * @since 0.1.0
 * @category Options
 */
export interface CallOptions {
  /**
   * The caller's job id (the job runtime passes its own), matching
   * `^[a-zA-Z0-9._:-]{1,256}$`; anything else fails with `ClientErrors.InvalidInput`
   * before sending. Default: `bulwark-` and 32 hex digits from Effect's `Random`.
   */
  readonly clientJobId?: string | undefined
  /** The timeout of each attempt of this call, instead of the policy's (300 s by default). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface GenerateOptions extends Sampling, CallOptions {
  /** Which generator's server to call. Default `"base"`. */
  readonly model?: GeneratorModel | undefined
  /** Independent outputs, a whole number in [1, 8]. Default 1. */
  readonly numVariations?: number | undefined
}

/**
 * `generateSeeded` and `continue`: a MIDI prompt.
 *
 * @since 0.1.0
 * @category Options
 */
export interface PromptOptions extends GenerateOptions {
  /** The bytes of a Standard MIDI File. */
  readonly midi: Uint8Array
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface BridgeOptions extends Sampling, CallOptions {
  /** The section to bridge from (the prompt). */
  readonly sectionA: Uint8Array
  /** Accepted by the service "for future use"; it does not change the output today. */
  readonly sectionB?: Uint8Array | undefined
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface LoopsOptions extends Sampling, CallOptions {
  /** An optional seed, sent as `seed_midi`. */
  readonly seed?: Uint8Array | undefined
  /** Independent loops, a whole number in [1, 8]. Default 1. */
  readonly numVariations?: number | undefined
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface ClassifyOptions extends CallOptions {
  /** The MIDI to classify (the service needs at least 10 tokens, about 4 notes). */
  readonly midi: Uint8Array
}

/**
 * What an Orpheus call can fail with.
 *
 * @since 0.1.0
 * @category Errors
 */
export type OrpheusError =
  | ResilientClient.Failure<InputRejected>
  | MalformedResponse
  | GpuBusy
  | InvalidInput

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** Generates from the start token (task `generate`). */
  readonly generate: (options?: GenerateOptions) => Effect.Effect<Generation, OrpheusError>
  /** Generates from a MIDI prompt (task `generate_seeded`; orpheus-base only). */
  readonly generateSeeded: (options: PromptOptions) => Effect.Effect<Generation, OrpheusError>
  /** Continues a MIDI prompt (task `continue`). */
  readonly continue: (options: PromptOptions) => Effect.Effect<Generation, OrpheusError>
  /** A transition after section A, from orpheus-bridge: always one variation. */
  readonly bridge: (options: BridgeOptions) => Effect.Effect<Generation, OrpheusError>
  /** Drum loops from orpheus-loops. */
  readonly loops: (options?: LoopsOptions) => Effect.Effect<Generation, OrpheusError>
  /** Human-vs-AI classification from orpheus-classifier. */
  readonly classify: (options: ClassifyOptions) => Effect.Effect<Classification, OrpheusError>
  /** `GET /health` of a model's server (v2 JSON, or v1's plain `ok`). */
  readonly health: (model?: Model) => Effect.Effect<Health, OrpheusError>
  /** The base URL of each model's server. */
  readonly urls: Readonly<Record<Model, string>>
  /** The resilient client of each model's server (its policy, for stats). */
  readonly clients: Readonly<Record<Model, ResilientClient.ResilientClient<InputRejected | Errors.RateLimited>>>
}

/**
 * @since 0.1.0
 * @category Tags
 */
export class Orpheus extends Context.Tag("@bulwark/clients/Orpheus")<Orpheus, Service>() {}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Base URL of each model's server; unset models keep {@link defaults}`.urls`. */
  readonly urls?: Partial<Record<Model, string>> | undefined
  /**
   * Options of each server's policy, laid over {@link defaults}`.policy`
   * field by field (`{ retry: { maxAttempts: 2 } }` keeps the other retry
   * fields); `false` turns a layer off, and `policy: false` every layer.
   */
  readonly policy?: Omit<Policy.Options, "service"> | false | undefined
  /** The wait after a busy answer without Retry-After. Default 5 seconds (the seed). */
  readonly busyRetryAfter?: Duration.DurationInput | undefined
  /** Applied to the `HttpClient` in context before the policy (headers, tracing, a test double). */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

const isOutage = Classify.except(Classify.isServiceFailure, Busy.isBusy)

/**
 * The seed's numbers and the fact sheet's ports.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  /** Fact sheet §1: one model per port, on loopback. */
  urls: {
    base: "http://127.0.0.1:2000",
    classifier: "http://127.0.0.1:2001",
    bridge: "http://127.0.0.1:2002",
    loops: "http://127.0.0.1:2003",
    children: "http://127.0.0.1:2004",
    mono_melodies: "http://127.0.0.1:2005"
  } satisfies Record<Model, string>,
  /** Seed 000: `.unwrap_or(5)` when Retry-After is absent. */
  busyRetryAfter: "5 seconds",
  policy: {
    /** Three attempts of 300 s; busy waits count against it too. */
    totalTimeout: "15 minutes",
    /** LitServe's server-side request timeout: generation takes minutes. */
    attemptTimeout: "300 seconds",
    retry: {
      /** Seed 000's proposed loop: `MAX_RETRIES = 3`. */
      maxAttempts: 3,
      base: "1 second",
      maxDelay: "30 seconds",
      jitter: "full",
      /** Seed 000 sleeps exactly the Retry-After. */
      retryAfter: "override",
      /** GPU busy is not a failure of the request: bounded by the deadline instead. */
      rateLimitedAttempts: "free",
      /** 100 busy answers at the default 5 s is more than the 15 minute deadline. */
      maxRateLimited: 100
    },
    /** Seeds 003 / 004's breaker; a busy GPU is a healthy service at work and is not counted. */
    circuitBreaker: { openDuration: "60 seconds", maxProbes: 1, successThreshold: 2, isFailure: isOutage }
  }
} as const satisfies {
  urls: Record<Model, string>
  busyRetryAfter: Duration.DurationInput
  policy: Omit<Policy.Options, "service">
}

/**
 * The service name of each model's server (in errors, logs, spans and metrics).
 *
 * @since 0.1.0
 * @category Defaults
 */
export const services: Readonly<Record<Model, string>> = {
  base: "orpheus-base",
  classifier: "orpheus-classifier",
  bridge: "orpheus-bridge",
  loops: "orpheus-loops",
  children: "orpheus-children",
  mono_melodies: "orpheus-mono"
}

const models = Object.keys(defaults.urls) as ReadonlyArray<Model>

/**
 * Builds the service over the `HttpClient` in context: one resilient client
 * (policy, breaker) per model's server. Invalid options fail with
 * `InvalidPolicy` naming the option.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const busyRetryAfter = yield* Resolve.busyWait(options.busyRetryAfter ?? defaults.busyRetryAfter)
    const urls = yield* Resolve.urls(models, options.urls, defaults.urls)
    const policy = Resolve.mergePolicy(defaults.policy, options.policy)
    const base = yield* HttpClient.HttpClient
    // Whole answers are read inside the attempt: its timeout covers the body, and a cut body is retried.
    const httpClient = buffered(options.transformClient === undefined ? base : options.transformClient(base))
    const seen: Busy.Seen = new Map()
    const clients = {} as Record<Model, Call.Client>
    for (const model of models) {
      const service = services[model]
      clients[model] = yield* ResilientClient.make<InputRejected | Errors.RateLimited>({
        service,
        policy,
        classify: { classify: Busy.classify(service, busyRetryAfter, seen) }
      }).pipe(Effect.provideService(HttpClient.HttpClient, httpClient))
    }
    const predict = Call.predictor(clients, urls, seen)
    const generation = (model: Model) => Call.generation(services[model])
    const classification = () => Call.classification(services.classifier)
    const send =
      <A>(task: string, read: (model: Model) => Call.Read<A>, call: CallOptions) => (checked: Request.Checked) =>
        predict(checked.model, task, checked.body, { ...call, clientJobId: checked.clientJobId }, read(checked.model))

    const generate = Effect.fn("Orpheus.generate")((options: GenerateOptions = {}) =>
      Effect.flatMap(Request.generator(services, "generate", options), send("generate", generation, options))
    )
    const generateSeeded = Effect.fn("Orpheus.generateSeeded")((options: PromptOptions) =>
      Effect.flatMap(
        Request.generator(services, "generate_seeded", options, options.midi),
        send("generate_seeded", generation, options)
      )
    )
    const continue_ = Effect.fn("Orpheus.continue")((options: PromptOptions) =>
      Effect.flatMap(
        Request.generator(services, "continue", options, options.midi),
        send("continue", generation, options)
      )
    )
    const bridge = Effect.fn("Orpheus.bridge")((options: BridgeOptions) =>
      Effect.flatMap(Request.bridge(services.bridge, options), send("bridge", generation, options))
    )
    const loops = Effect.fn("Orpheus.loops")((options: LoopsOptions = {}) =>
      Effect.flatMap(Request.loops(services.loops, options), send("loops", generation, options))
    )
    const classify = Effect.fn("Orpheus.classify")((options: ClassifyOptions) =>
      Effect.flatMap(Request.classify(services.classifier, options), send("classify", classification, options))
    )

    const health = Effect.fn("Orpheus.health")(function*(model: Model = "base") {
      const client = clients[model]
      if (client === undefined) {
        return yield* Request.checker(services.base, "health").refuse("model", model, models.join(", "))
      }
      return yield* Call.health(client, urls[model]).pipe(
        Spans.annotate({ service: client.service, operation: "health", model })
      )
    })

    return {
      generate,
      generateSeeded,
      continue: continue_,
      bridge,
      loops,
      classify,
      health,
      urls,
      clients
    } satisfies Service
  })

/**
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}): Layer.Layer<Orpheus, Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Layer.effect(Orpheus, make(options))

/**
 * The environment variables {@link layerConfig} reads, under `ORPHEUS_`: one
 * base URL per model (`ORPHEUS_BASE_URL` for the `base` model's server, ...),
 * the busy wait without Retry-After, and the policy variables every client
 * reads (`ORPHEUS_RETRY_MAX_ATTEMPTS`, `ORPHEUS_TIMEOUT`, ...).
 *
 * @since 0.1.0
 * @category Config
 */
export const configKeys = {
  urls: {
    base: "BASE_URL",
    classifier: "CLASSIFIER_URL",
    bridge: "BRIDGE_URL",
    loops: "LOOPS_URL",
    children: "CHILDREN_URL",
    mono_melodies: "MONO_URL"
  } satisfies Record<Model, string>,
  busyRetryAfter: "BUSY_RETRY_AFTER",
  policy: config.policyKeys
} as const

/** The variables that can explain a refused option field (see `Options_.refusedByConfig`). */
const configFields: Readonly<Record<string, ReadonlyArray<string>>> = {
  ...Options_.policyVariables,
  busyRetryAfter: [configKeys.busyRetryAfter],
  ...Object.fromEntries(Object.entries(configKeys.urls).map(([model, key]) => [`urls.${model}`, [key]]))
}

/**
 * The service from the environment (see {@link configKeys}), laid over
 * `options` and then {@link defaults}: a variable that is set wins. An invalid
 * value fails the layer with a `ConfigError` naming the variable.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  options: Options = {}
): Layer.Layer<Orpheus, ConfigError.ConfigError | Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Layer.effect(
    Orpheus,
    Effect.flatMap(
      Resolve.fromEnv(options, defaults, configKeys, models),
      (read) => Effect.catchTag(make(read), "InvalidPolicy", Options_.refusedByConfig("ORPHEUS", configFields))
    )
  )
