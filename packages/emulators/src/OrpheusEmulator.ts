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
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Emulator from "./Emulator.js"
import * as EmulatorStats from "./EmulatorStats.js"
import type * as Faults from "./Faults.js"
import * as OrpheusOptions from "./internal/orpheusOptions.js"
import type * as Request from "./internal/orpheusRequest.js"
import * as Routes from "./internal/orpheusRoutes.js"

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
export const busyBodies = Routes.busyBodies

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
    const config = yield* OrpheusOptions.settings(options, defaults, services)
    const stats = yield* EmulatorStats.make({ service: config.service, capacity: config.capacity })
    const routes = yield* Routes.make(config, stats)
    const emulator = yield* Emulator.serve(routes.router, {
      ...options,
      seed: config.seed,
      stats,
      failure: routes.failure
    })
    return { ...emulator, model: config.model, gpu: routes.gpu }
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
