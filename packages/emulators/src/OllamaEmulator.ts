/**
 * A loopback Ollama server: `/api/generate` and `/api/chat` (NDJSON streams
 * by default, single objects with `"stream": false`), `/api/tags`, `/api/ps`,
 * `/api/version` and a non-streaming `/v1/chat/completions`, with Ollama's
 * scheduler in front of the work: `numParallel` slots, a queue of `maxQueue`
 * waiters and the 503 "server busy" answer beyond it.
 *
 * Replies are synthetic words drawn from the seed and the request; their
 * timing (model load on first use, per-token latency) from seeded
 * distributions, waited with `Effect.sleep` so the answers can be made slower
 * than a client's timeout.
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
import type * as OllamaModels from "./internal/ollamaModels.js"
import * as OllamaOptions from "./internal/ollamaOptions.js"
import * as Routes from "./internal/ollamaRoutes.js"
import * as OllamaWire from "./internal/ollamaWire.js"

/**
 * @since 0.1.0
 * @category Tags
 */
export class OllamaEmulator extends Context.Tag("@bulwark/emulators/OllamaEmulator")<OllamaEmulator, Service>() {}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service extends Emulator.Emulator {
  /** The scheduler now: requests holding a slot and requests waiting in the queue. */
  readonly queue: Effect.Effect<{ readonly running: number; readonly waiting: number }>
}

/**
 * A model the emulator serves: a name, or a name with its size and details.
 *
 * @since 0.1.0
 * @category Options
 */
export type ModelOption = string | OllamaModels.ModelSpec

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options extends Emulator.CommonOptions {
  /** The local models (`/api/tags`). Default `llama3.2:3b` and `qwen2.5-coder:7b`. */
  readonly models?: ReadonlyArray<ModelOption> | undefined
  /** Requests served at once (OLLAMA_NUM_PARALLEL). Default 1. */
  readonly numParallel?: number | undefined
  /** Requests that may wait for a slot before the 503 (OLLAMA_MAX_QUEUE). Default 512. */
  readonly maxQueue?: number | undefined
  /** Time per generated token, a `Faults` distribution (`"20ms"`, `"10ms..30ms"`, `"exp(15ms)"`). Default `"1ms"`. */
  readonly tokenLatency?: string | undefined
  /** Time to load a model that is not in memory (first use, or after its keep-alive). Default `"0ms"`. */
  readonly loadTime?: string | undefined
  /** Keep-alive when a request gives none (OLLAMA_KEEP_ALIVE): `"5m"`, `"-1"` (forever), `"0"`. Default `"5m"`. */
  readonly keepAlive?: string | undefined
  /** What `/api/version` says. Default `"0.12.6"`. */
  readonly version?: string | undefined
  /**
   * Probability that a streamed answer (`stream: true` on `/api/generate` or
   * `/api/chat`) stops halfway, after its 200 and some lines, with the line
   * `{"error": "model runner has unexpectedly stopped, ..."}` instead of the
   * `done` line, as Ollama does when its runner dies mid-generation. Drawn
   * per request from the seed. Default 0.
   */
  readonly midStreamError?: number | undefined
}

/**
 * The 503 text of a full queue, to the letter (two spaces after the first period).
 *
 * @since 0.1.0
 * @category Constants
 */
export const busyMessage: string = OllamaWire.busyMessage

/**
 * The text of a runner that died: the 500 of the fault timeline, and the
 * `{"error": ...}` line that ends a stream broken by `midStreamError`.
 *
 * @since 0.1.0
 * @category Constants
 */
export const runnerStoppedMessage: string = OllamaWire.runnerStoppedMessage

/**
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  numParallel: 1,
  maxQueue: 512,
  tokenLatency: "1ms",
  loadTime: "0ms",
  keepAlive: "5m",
  version: "0.12.6"
} as const

/**
 * Starts an Ollama emulator on 127.0.0.1 for the life of the scope.
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
    const config = yield* OllamaOptions.settings(options, defaults)
    const stats = yield* EmulatorStats.make({ service: "ollama", capacity: config.numParallel })
    const routes = yield* Routes.make(config, stats)
    const emulator = yield* Emulator.serve(routes.router, {
      ...options,
      seed: config.seed,
      stats,
      failure: routes.failure
    })
    return { ...emulator, queue: routes.queue }
  })

/**
 * The emulator as a layer: it listens while the layer is alive.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<OllamaEmulator, Faults.InvalidFaultSpec | Emulator.InvalidEmulatorOption | HttpServerError.ServeError> =>
  Layer.scoped(OllamaEmulator, make(options))
