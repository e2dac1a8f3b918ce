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
import * as Errors from "@bulwark/core/Errors"
import type * as Policy from "@bulwark/core/Policy"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import { MalformedResponse } from "./ClientErrors.js"
import * as config from "./internal/config.js"
import * as decode from "./internal/decode.js"
import * as Busy from "./internal/orpheusBusy.js"
import * as Request from "./internal/orpheusRequest.js"
import {
  ClassificationResponse,
  GenerationResponse,
  GpuBusy,
  Health,
  InputRejected,
  InvalidRequest
} from "./OrpheusSchema.js"
import type { Classification, Generation, GeneratorModel, Meta, Model } from "./OrpheusSchema.js"

export {
  /** @since 0.1.0 */
  GpuBusy,
  /** @since 0.1.0 */
  InputRejected,
  /** @since 0.1.0 */
  InvalidRequest
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
   * `^[a-zA-Z0-9._:-]{1,256}$`; anything else fails with {@link InvalidRequest}
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
  | InvalidRequest

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
   * Options of each server's policy, laid over {@link defaults}`.policy`: a
   * layer given here replaces the default's, except `retry` and
   * `circuitBreaker`, whose fields are merged; `false` turns a layer off, and
   * `policy: false` turns every layer off.
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

const invalid = (field: string, value: unknown, expected: string) =>
  new Errors.InvalidPolicy({ policy: "orpheus", field, value: String(value), expected })

const mergePolicy = (
  base: Omit<Policy.Options, "service">,
  over: Omit<Policy.Options, "service"> | false | undefined
): Omit<Policy.Options, "service"> => {
  if (over === false) return {}
  if (over === undefined) return base
  const merged: Record<string, unknown> = { ...base, ...over }
  for (const key of ["retry", "circuitBreaker"] as const) {
    const own = over[key]
    const inherited = base[key]
    if (typeof own === "object" && typeof inherited === "object") merged[key] = { ...inherited, ...own }
  }
  return merged as Omit<Policy.Options, "service">
}

const checkUrl = (model: Model, text: unknown): Effect.Effect<string, Errors.InvalidPolicy> => {
  const parsed = typeof text === "string" && URL.canParse(text) ? new URL(text) : undefined
  return parsed !== undefined && (parsed.protocol === "http:" || parsed.protocol === "https:")
    ? Effect.succeed(text as string).pipe(Effect.map((url) => url.replace(/\/+$/, "")))
    : Effect.fail(invalid(`urls.${model}`, text, "an http(s) URL"))
}

const hex32 = Effect.map(
  Effect.all([Random.next, Random.next, Random.next, Random.next]),
  (parts) => parts.map((part) => Math.floor(part * 0x1_0000_0000).toString(16).padStart(8, "0")).join("")
)

const metaOf = (body: { readonly meta?: Meta | null | undefined; readonly metadata?: Meta | null | undefined }) =>
  body.meta ?? body.metadata ?? undefined

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
    const busyRetryAfter = Duration.decodeUnknown(options.busyRetryAfter ?? defaults.busyRetryAfter)
    if (Option.isNone(busyRetryAfter) || !Duration.isFinite(busyRetryAfter.value)) {
      return yield* invalid("busyRetryAfter", options.busyRetryAfter, "a finite duration")
    }
    const urls = {} as Record<Model, string>
    for (const model of models) urls[model] = yield* checkUrl(model, options.urls?.[model] ?? defaults.urls[model])
    const policy = mergePolicy(defaults.policy, options.policy)
    const base = yield* HttpClient.HttpClient
    const httpClient = options.transformClient === undefined ? base : options.transformClient(base)
    const seen: Busy.Seen = new Map()
    const clients = {} as Record<Model, ResilientClient.ResilientClient<InputRejected | Errors.RateLimited>>
    for (const model of models) {
      const service = services[model]
      clients[model] = yield* ResilientClient.make<InputRejected | Errors.RateLimited>({
        service,
        policy,
        classify: { classify: Busy.classify(service, busyRetryAfter.value, seen) }
      }).pipe(Effect.provideService(HttpClient.HttpClient, httpClient))
    }

    const predict = <A>(
      model: Model,
      task: string,
      body: Record<string, unknown>,
      call: CallOptions,
      read: (
        response: HttpClientResponse.HttpClientResponse,
        clientJobId: string
      ) => Effect.Effect<A, MalformedResponse>
    ): Effect.Effect<A, OrpheusError> => {
      const client = clients[model]
      return Effect.gen(function*() {
        const clientJobId = call.clientJobId ?? `bulwark-${yield* hex32}`
        const requestId = yield* hex32
        yield* Effect.annotateCurrentSpan({
          model,
          task,
          client_job_id: clientJobId,
          "bulwark.service": client.service
        })
        // Body for v1 servers (and hootenanny's habit), query for v2 servers, which read only the query.
        const request = HttpClientRequest.post(`${urls[model]}/predict`).pipe(
          HttpClientRequest.setUrlParam("client_job_id", clientJobId),
          HttpClientRequest.bodyUnsafeJson(body)
        )
        const response = yield* client.execute(request, { clientJobId, requestId, timeout: call.timeout }).pipe(
          Effect.mapError((error) =>
            error instanceof InputRejected
              ? new InputRejected({ ...error, clientJobId })
              : Busy.toGpuBusy(error, clientJobId, client.service, seen.get(requestId))
          ),
          Effect.ensuring(Effect.sync(() => seen.delete(requestId)))
        )
        return yield* read(response, clientJobId).pipe(Effect.annotateLogs({ client_job_id: clientJobId }))
      }).pipe(Effect.annotateLogs({ model, task }))
    }

    const generation = (model: Model) => {
      const read = decode.json(GenerationResponse, { service: services[model], endpoint: "POST /predict" })
      return (response: HttpClientResponse.HttpClientResponse, clientJobId: string) =>
        Effect.map(read(response), (body): Generation => ({
          task: body.task,
          variations: body.variations,
          clientJobId,
          meta: metaOf(body)
        }))
    }

    const check = (model: Model) => Request.checker(services[model])

    const sampling = (model: Model, options: Sampling) => {
      const c = check(model)
      return Effect.all({
        temperature: c.temperature(options.temperature),
        top_p: c.topP(options.topP),
        max_tokens: c.maxTokens(options.maxTokens)
      })
    }

    const generator = (
      task: "generate" | "generate_seeded" | "continue",
      options: GenerateOptions,
      midi?: Uint8Array
    ) =>
      Effect.gen(function*() {
        const model = options.model ?? "base"
        if (!GeneratorModels.has(model)) {
          return yield* check("base").refuse("model", model, "base, children or mono_melodies")
        }
        const c = check(model)
        if (task === "generate_seeded" && model !== "base") {
          return yield* c.refuse("model", model, "base (only orpheus-base answers generate_seeded)")
        }
        const clientJobId = yield* c.clientJobId(options.clientJobId)
        const body = {
          task,
          model,
          ...(midi === undefined && task === "generate" ? {} : { midi_input: yield* c.midi("midi", midi) }),
          ...(yield* sampling(model, options)),
          num_variations: yield* c.numVariations(options.numVariations)
        }
        return yield* predict(model, task, body, { ...options, clientJobId }, generation(model))
      })

    const generate = Effect.fn("Orpheus.generate")((options: GenerateOptions = {}) => generator("generate", options))
    const generateSeeded = Effect.fn("Orpheus.generateSeeded")((options: PromptOptions) =>
      generator("generate_seeded", options, options.midi)
    )
    const continue_ = Effect.fn("Orpheus.continue")((options: PromptOptions) =>
      generator("continue", options, options.midi)
    )

    const bridge = Effect.fn("Orpheus.bridge")(function*(options: BridgeOptions) {
      const c = check("bridge")
      const clientJobId = yield* c.clientJobId(options.clientJobId)
      const body = {
        section_a: yield* c.midi("sectionA", options.sectionA),
        ...(options.sectionB === undefined ? {} : { section_b: yield* c.midi("sectionB", options.sectionB) }),
        ...(yield* sampling("bridge", options))
      }
      return yield* predict("bridge", "bridge", body, { ...options, clientJobId }, generation("bridge"))
    })

    const loops = Effect.fn("Orpheus.loops")(function*(options: LoopsOptions = {}) {
      const c = check("loops")
      const clientJobId = yield* c.clientJobId(options.clientJobId)
      const body = {
        ...(options.seed === undefined ? {} : { seed_midi: yield* c.midi("seed", options.seed) }),
        ...(yield* sampling("loops", options)),
        num_variations: yield* c.numVariations(options.numVariations)
      }
      return yield* predict("loops", "loops", body, { ...options, clientJobId }, generation("loops"))
    })

    const classify = Effect.fn("Orpheus.classify")(function*(options: ClassifyOptions) {
      const c = check("classifier")
      const clientJobId = yield* c.clientJobId(options.clientJobId)
      const body = { midi_input: yield* c.midi("midi", options.midi) }
      const read = decode.json(ClassificationResponse, { service: services.classifier, endpoint: "POST /predict" })
      return yield* predict(
        "classifier",
        "classify",
        body,
        { ...options, clientJobId },
        (response, id) =>
          Effect.map(read(response), (answer): Classification => ({
            ...answer.classification,
            numTokens: answer.numTokens,
            clientJobId: id,
            meta: metaOf(answer)
          }))
      )
    })

    const health = Effect.fn("Orpheus.health")(function*(model: Model = "base") {
      const client = clients[model]
      if (client === undefined) return yield* check("base").refuse("model", model, models.join(", "))
      yield* Effect.annotateCurrentSpan({ model, "bulwark.service": client.service })
      const response = yield* client.execute(HttpClientRequest.get(`${urls[model]}/health`))
      const origin = { service: client.service, endpoint: "GET /health", status: response.status }
      const raw = yield* Effect.mapError(response.text, (error) =>
        new MalformedResponse({
          ...origin,
          reason: `the body could not be read: ${error.message}`,
          excerpt: ""
        }))
      // v1 LitServe answers a plain "ok" once its workers are set up.
      if (/^\s*"?ok"?\s*$/i.test(raw)) return { status: "ok" } satisfies Health
      return yield* decode.text(Health, origin)(raw)
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

const GeneratorModels: ReadonlySet<string> = new Set(["base", "children", "mono_melodies"])

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

const optional = <A>(value: Config.Config<A>) => Config.map(Config.option(value), Option.getOrUndefined)

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
      Config.all({
        urls: Config.all(
          Object.fromEntries(models.map((model) => [model, optional(config.url(configKeys.urls[model]))]))
        ),
        busyRetryAfter: optional(config.duration(configKeys.busyRetryAfter)),
        policy: options.policy === false
          ? Config.succeed(false as const)
          : config.policy(mergePolicy(defaults.policy, options.policy))
      }).pipe(Config.nested("ORPHEUS")),
      (env) => {
        const urls: Partial<Record<Model, string>> = { ...options.urls }
        for (const [model, url] of Object.entries(env.urls)) if (url !== undefined) urls[model as Model] = url
        return make({
          ...options,
          urls,
          policy: env.policy,
          busyRetryAfter: env.busyRetryAfter ?? options.busyRetryAfter
        })
      }
    )
  )
