/**
 * An emulator of one Orpheus music-model service (tobert/halfremembered-models,
 * v2 FastAPI shape): `POST /predict` and `GET /health` for one model per
 * instance, on a GPU of `capacity` slots (default 1).
 *
 * - Generators (`base`, `children`, `mono_melodies`, `bridge`, `loops`) answer
 *   `{task, variations: [{midi_base64, num_tokens}], meta}` with synthetic but
 *   valid Standard MIDI Files, a function of the seed and the request.
 * - `classifier` answers `{classification, num_tokens, meta}`.
 * - Invalid input gets FastAPI's 422 `{"detail": ...}`.
 * - While every slot is taken a request is answered per `busy`: 429 with
 *   `Retry-After` and `{"error": "GPU busy", ...}` (default), 429 without the
 *   header, 503 `{"detail": "Service is busy processing another request"}`,
 *   a wait in line (v1 LitServe) or no guard at all (real v2).
 * - `client_job_id` is read from the query (v2) or the body (v1, what
 *   hootenanny sends), checked against `^[a-zA-Z0-9._:-]{1,256}$`, echoed in
 *   `meta.client_job_id` and recorded in the stats; an invalid one is logged
 *   and dropped, as v2 does.
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
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import * as Emulator from "./Emulator.js"
import * as EmulatorStats from "./EmulatorStats.js"
import * as Faults from "./Faults.js"
import * as Gpu from "./internal/orpheusGpu.js"
import * as Midi from "./internal/orpheusMidi.js"
import * as Request from "./internal/orpheusRequest.js"
import * as Seeded from "./internal/seeded.js"

/**
 * The model an instance serves (one per port in the real deployment).
 *
 * @since 0.1.0
 * @category Models
 */
export type Model = Request.Model

/**
 * What a request meets while every GPU slot is taken.
 *
 * - `"429"`: 429, `Retry-After: <retryAfterSeconds>`, `{"error": "GPU busy", ...}` (hootenanny's contract)
 * - `"429-no-retry-after"`: the same without `Retry-After` (hootenanny then waits 5 s)
 * - `"503"`: 503 `{"detail": "Service is busy processing another request"}` (other v2 services)
 * - `"queue"`: waits in arrival order for a slot (v1 LitServe, one worker)
 * - `"none"`: runs anyway, concurrently (v2 Orpheus services have no guard)
 *
 * @since 0.1.0
 * @category Models
 */
export type Busy = "429" | "429-no-retry-after" | "503" | "queue" | "none"

/**
 * What the GPU is doing.
 *
 * @since 0.1.0
 * @category Models
 */
export interface GpuState {
  readonly capacity: number
  /** Slots taken. */
  readonly inUse: number
  /** Requests waiting for a slot (`busy: "queue"` only). */
  readonly waiting: number
}

/**
 * The service name of each model (`/health`, `meta.service`).
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

/**
 * The port of each model in the real deployment (the emulator listens on a
 * free port unless told otherwise).
 *
 * @since 0.1.0
 * @category Defaults
 */
export const ports: Readonly<Record<Model, number>> = {
  base: 2000,
  classifier: 2001,
  bridge: 2002,
  loops: 2003,
  children: 2004,
  mono_melodies: 2005
}

/**
 * The bodies of the busy answers.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const busyBodies = {
  "429": { error: "GPU busy", message: "Another request is being processed" },
  "503": { detail: "Service is busy processing another request" }
} as const

/**
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  model: "base",
  capacity: 1,
  busy: "429",
  retryAfterSeconds: 30,
  serviceTime: "0ms",
  millisPerToken: 0
} as const

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options extends Emulator.CommonOptions {
  /** Default `"base"`. */
  readonly model?: Model | undefined
  /** GPU slots, a whole number ≥ 1. Default 1. */
  readonly capacity?: number | undefined
  /** Default `"429"`. */
  readonly busy?: Busy | undefined
  /** The `Retry-After` of a busy 429, whole seconds ≥ 0. Default 30 (hootenanny's design note). */
  readonly retryAfterSeconds?: number | undefined
  /**
   * Emulator extension, not in the real protocol: also send
   * `retry-after-ms: <n>` on every busy answer (and on a 429 / 503 of the
   * fault timeline), so a benchmark can ask for waits shorter than a second.
   * Default: not sent.
   */
  readonly retryAfterMs?: number | undefined
  /**
   * What the hints of a busy answer say. `"fixed"`: `retryAfterSeconds`
   * (and `retryAfterMs`). `"remaining"` (emulator extension): the time until
   * the first GPU slot frees, as a server that knows its queue would say —
   * `Retry-After` in whole seconds rounded up, and `retry-after-ms` exactly.
   * Default `"fixed"`.
   */
  readonly busyHint?: "fixed" | "remaining" | undefined
  /**
   * The GPU time of one request, drawn per admitted request from the
   * emulator's seeded generator: `"20ms"` (exactly that), `"20ms..80ms"`,
   * `"exp(50ms)"`, `"normal(100ms,20ms)"`. Default `"0ms"`.
   */
  readonly serviceTime?: string | Faults.Distribution | undefined
  /**
   * Added to the service time for every token generated (the sum of the
   * variations' `num_tokens`; 0 for the classifier). Default 0.
   */
  readonly millisPerToken?: number | undefined
}

/**
 * A running Orpheus emulator.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service extends Emulator.Emulator {
  readonly model: Model
  readonly gpu: Effect.Effect<GpuState>
}

/**
 * @since 0.1.0
 * @category Tags
 */
export class OrpheusEmulator extends Context.Tag("@bulwark/emulators/OrpheusEmulator")<OrpheusEmulator, Service>() {}

const busyModes: ReadonlyArray<Busy> = ["429", "429-no-retry-after", "503", "queue", "none"]
const voices: Record<Model, Midi.Voice> = {
  base: "poly",
  classifier: "poly",
  bridge: "poly",
  loops: "drums",
  children: "poly",
  mono_melodies: "mono"
}

const isWhole = (n: unknown, min: number, max = Number.MAX_SAFE_INTEGER): n is number =>
  typeof n === "number" && Number.isSafeInteger(n) && n >= min && n <= max

const isDuration = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n) && n >= 0

const validDistribution = (distribution: Faults.Distribution): boolean => {
  switch (distribution._tag) {
    case "Fixed":
      return isDuration(distribution.millis)
    case "Uniform":
      return isDuration(distribution.min) && isDuration(distribution.max) && distribution.min <= distribution.max
    case "Exponential":
      return isDuration(distribution.mean)
    case "Normal":
      return isDuration(distribution.mean) && isDuration(distribution.deviation)
    default:
      return false
  }
}

interface Settings {
  readonly model: Model
  readonly service: string
  readonly capacity: number
  readonly busy: Busy
  readonly retryAfterSeconds: number
  readonly retryAfterMs: number | undefined
  readonly busyHint: "fixed" | "remaining"
  readonly serviceTime: Faults.Distribution
  readonly millisPerToken: number
  readonly seed: number
}

/** Every option checked, with its default. */
const settings = (options: Options): Either.Either<Settings, Emulator.InvalidEmulatorOption> => {
  const model = options.model ?? defaults.model
  const service = services[model as Model] ?? "orpheus"
  const refuse = (option: string, reason: string) =>
    Either.left(new Emulator.InvalidEmulatorOption({ service, option, reason }))
  if (!Object.hasOwn(services, model)) {
    return refuse("model", `must be one of ${Object.keys(services).join(", ")}, got ${JSON.stringify(model)}`)
  }
  const capacity = options.capacity ?? defaults.capacity
  if (!isWhole(capacity, 1)) return refuse("capacity", `must be a whole number ≥ 1, got ${capacity}`)
  const busy = options.busy ?? defaults.busy
  if (!busyModes.includes(busy)) {
    return refuse("busy", `must be one of ${busyModes.join(", ")}, got ${JSON.stringify(busy)}`)
  }
  const retryAfterSeconds = options.retryAfterSeconds ?? defaults.retryAfterSeconds
  if (!isWhole(retryAfterSeconds, 0)) {
    return refuse("retryAfterSeconds", `must be whole seconds ≥ 0, got ${retryAfterSeconds}`)
  }
  const retryAfterMs = options.retryAfterMs
  if (retryAfterMs !== undefined && !isWhole(retryAfterMs, 0)) {
    return refuse("retryAfterMs", `must be whole milliseconds ≥ 0, got ${retryAfterMs}`)
  }
  const busyHint = options.busyHint ?? "fixed"
  if (busyHint !== "fixed" && busyHint !== "remaining") {
    return refuse("busyHint", `must be "fixed" or "remaining", got ${JSON.stringify(busyHint)}`)
  }
  const time = options.serviceTime ?? defaults.serviceTime
  const serviceTime = typeof time === "string" ? Faults.parseDistribution(time) : Either.right(time)
  if (Either.isLeft(serviceTime)) return refuse("serviceTime", serviceTime.left)
  if (!validDistribution(serviceTime.right)) {
    return refuse("serviceTime", "every duration of the distribution must be a finite number of milliseconds ≥ 0")
  }
  const millisPerToken = options.millisPerToken ?? defaults.millisPerToken
  if (!isDuration(millisPerToken)) return refuse("millisPerToken", `must be a finite number ≥ 0, got ${millisPerToken}`)
  const seed = options.seed ?? 0
  if (!isWhole(seed, 0)) return refuse("seed", `must be a whole number ≥ 0, got ${seed}`)
  if (options.port !== undefined && !isWhole(options.port, 0, 65535)) {
    return refuse("port", `must be a whole number 0-65535, got ${options.port}`)
  }
  return Either.right({
    model: model as Model,
    service,
    capacity,
    busy,
    retryAfterSeconds,
    retryAfterMs,
    busyHint,
    serviceTime: serviceTime.right,
    millisPerToken,
    seed
  })
}

const hex = (uniform: () => number, digits: number) => {
  let text = ""
  while (text.length < digits) text += Math.floor(uniform() * 0x1_0000_0000).toString(16).padStart(8, "0")
  return text.slice(0, digits)
}

const traceparent = /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson(body, { status, headers })

/** Reads `client_job_id` from the query (v2) or else the body (v1); `undefined` when absent or invalid. */
const clientJobIdOf = (url: string, body: unknown): unknown => {
  const query = new URLSearchParams(url.split("?")[1] ?? "").get("client_job_id")
  if (query !== null) return query
  return typeof body === "object" && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>).client_job_id
    : undefined
}

/**
 * Starts an Orpheus emulator on 127.0.0.1 for the life of the scope.
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
    const config = yield* settings(options)
    const { model, service } = config
    const stats = yield* EmulatorStats.make({ service, capacity: config.capacity })
    const gpu = Gpu.make(config.capacity, yield* Effect.scope)
    const serviceTimes = Seeded.generator(Seeded.hash(`${config.seed}:service-time`))
    let traces = 0

    const hints = (windowMillis: number | undefined, retryAfter: boolean): Record<string, string> => ({
      ...(retryAfter ?
        {
          "retry-after": String(
            windowMillis === undefined ? config.retryAfterSeconds : Math.ceil(windowMillis / 1000)
          )
        } :
        {}),
      ...(config.retryAfterMs === undefined ? {} : {
        "retry-after-ms": String(windowMillis === undefined ? config.retryAfterMs : Math.ceil(windowMillis))
      })
    })

    /** When each running request will free its slot. */
    const freeAt: Array<number> = []

    const fixedBusyAnswer = config.busy === "503"
      ? json(busyBodies["503"], 503, hints(undefined, false))
      : json(busyBodies["429"], 429, hints(undefined, config.busy === "429"))

    const busyAnswer = config.busyHint === "fixed" ? Effect.succeed(fixedBusyAnswer) : Effect.map(
      Clock.currentTimeMillis,
      (now) => {
        const millis = Math.max(0, Math.min(...freeAt) - now)
        const headers = { "retry-after": String(Math.ceil(millis / 1000)), "retry-after-ms": String(Math.ceil(millis)) }
        return config.busy === "503" ? json(busyBodies["503"], 503, headers) : json(busyBodies["429"], 429, headers)
      }
    )

    /** Holds a slot of the GPU for the drawn service time, counted as busy time. */
    const work = (tokens: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const millis = Faults.sample(config.serviceTime, serviceTimes) + config.millisPerToken * tokens
        const end = now + millis
        freeAt.push(end)
        return stats.busy(millis > 0 ? Effect.sleep(Duration.millis(millis)) : Effect.void).pipe(
          Effect.ensuring(Effect.sync(() => freeAt.splice(freeAt.indexOf(end), 1)))
        )
      })

    const onGpu = (tokens: number): Effect.Effect<boolean> =>
      config.busy === "queue"
        ? Effect.as(gpu.run(work(tokens)), true)
        : config.busy === "none"
        ? Effect.as(gpu.runUnbounded(work(tokens)), true)
        : Effect.map(gpu.tryRun(work(tokens)), Option.isSome)

    const meta = (headers: Readonly<Record<string, string | undefined>>, clientJobId: string | undefined) => {
      const ids = Seeded.forRequest(config.seed, ["trace", traces++])
      const parent = traceparent.exec(headers.traceparent ?? "")
      return {
        service,
        trace_id: parent?.[1] ?? hex(ids, 32),
        span_id: hex(ids, 16),
        ...(clientJobId === undefined ? {} : { client_job_id: clientJobId })
      }
    }

    const predict = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const parsed = Request.parseJson(yield* request.text)
      const body = "body" in parsed ? parsed.body : undefined
      const candidate = clientJobIdOf(request.url, body)
      let clientJobId: string | undefined
      if (typeof candidate === "string" && Request.clientJobIdPattern.test(candidate)) {
        clientJobId = candidate
        yield* stats.clientJobId(candidate)
        yield* Effect.annotateCurrentSpan("client_job_id", candidate)
      } else if (candidate !== undefined) {
        yield* Effect.logWarning("invalid client_job_id dropped").pipe(
          Effect.annotateLogs({ client_job_id: String(candidate).slice(0, 300) })
        )
      }
      const checked = "body" in parsed ? Request.validate(model, body) : parsed
      if (checked._tag === "Invalid") return json({ detail: checked.detail }, 422)

      if (checked._tag === "Classify") {
        if (!(yield* onGpu(0))) return yield* busyAnswer
        const human = Seeded.forRequest(config.seed, [service, checked.midi])()
        return json({
          classification: {
            is_human: human > 0.5,
            confidence: human > 0.5 ? human : 1 - human,
            probabilities: { human, ai: 1 - human }
          },
          num_tokens: Math.min(checked.tokens, 1024),
          meta: meta(request.headers, clientJobId)
        })
      }

      yield* Effect.annotateCurrentSpan({ task: checked.task, num_variations: checked.numVariations })
      // one generator per variation: its first draws say where EOS falls, the rest write the notes
      const variations = Array.from({ length: checked.numVariations }, (_, index) => {
        const uniform = Seeded.forRequest(config.seed, [
          service,
          checked.task,
          checked.prompt ?? null,
          checked.temperature,
          checked.topP,
          checked.maxTokens,
          index
        ])
        const tokens = uniform() < 0.75
          ? checked.maxTokens
          : Math.max(1, Math.floor(checked.maxTokens * (0.5 + 0.5 * uniform())))
        return { uniform, tokens }
      })
      if (!(yield* onGpu(variations.reduce((sum, variation) => sum + variation.tokens, 0)))) return yield* busyAnswer
      return json({
        task: checked.task,
        variations: variations.map(({ tokens, uniform }) => ({
          midi_base64: Midi.encodeBase64(Midi.synthesize(uniform, tokens, voices[model])),
          num_tokens: tokens
        })),
        meta: meta(request.headers, clientJobId)
      })
    }).pipe(
      Effect.withSpan("OrpheusEmulator.predict", { attributes: { service, model } }),
      Effect.annotateLogs({ service })
    )

    const notAllowed = json({ detail: "Method Not Allowed" }, 405)
    const router = HttpRouter.empty.pipe(
      HttpRouter.post("/predict", predict),
      HttpRouter.get("/predict", Effect.succeed(notAllowed)),
      HttpRouter.get(
        "/health",
        Effect.succeed(json({ status: "ok", service, version: "2.0.0" })).pipe(
          Effect.withSpan("OrpheusEmulator.health", { attributes: { service } })
        )
      ),
      HttpRouter.post("/health", Effect.succeed(notAllowed))
    )

    const emulator = yield* Emulator.serve(router, {
      port: options.port,
      faults: options.faults,
      seed: config.seed,
      stats,
      failure: (status, decision) => {
        const window = decision.statusEndsInMillis
        switch (status) {
          case 429:
            return json(
              busyBodies["429"],
              429,
              hints(window, config.busy !== "429-no-retry-after" || window !== undefined)
            )
          case 503:
            return json({ detail: "Service Unavailable" }, 503, hints(window, window !== undefined))
          case 500:
            return HttpServerResponse.text("Internal Server Error", { status: 500 })
          case 404:
            return json({ detail: "Not Found" }, 404)
          default:
            return json({ detail: http.STATUS_CODES[status] ?? "Error" }, status)
        }
      }
    })
    return {
      ...emulator,
      model,
      gpu: Effect.sync(() => gpu.state())
    }
  })

/**
 * The emulator as a Layer: started when the layer is built, stopped when it is released.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  OrpheusEmulator,
  Faults.InvalidFaultSpec | Emulator.InvalidEmulatorOption | HttpServerError.ServeError
> => Layer.scoped(OrpheusEmulator, make(options))
