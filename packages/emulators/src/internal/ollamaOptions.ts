/**
 * The Ollama emulator's options checked, every default filled in.
 */
import * as Either from "effect/Either"
import type * as Emulator from "../Emulator.js"
import type * as Faults from "../Faults.js"
import type * as OllamaEmulator from "../OllamaEmulator.js"
import * as OllamaModels from "./ollamaModels.js"
import * as Checks from "./options.js"

/** The options, checked, with every default filled in. */
export interface Settings {
  readonly numParallel: number
  readonly maxQueue: number
  readonly tokenLatency: Faults.Distribution
  readonly loadTime: Faults.Distribution
  /** Milliseconds; `Infinity` keeps a model loaded forever. */
  readonly keepAlive: number
  readonly version: string
  readonly models: ReadonlyMap<string, OllamaModels.Model>
  /** Probability that a stream ends halfway with an `{"error": ...}` line. */
  readonly midStreamError: number
  readonly seed: number
}

const check = Checks.forService("ollama")

/** Every option checked, with its default. */
export const settings = (
  options: OllamaEmulator.Options,
  defaults: typeof OllamaEmulator.defaults
): Either.Either<Settings, Emulator.InvalidEmulatorOption> =>
  Either.gen(function*() {
    const numParallel = yield* check.whole("numParallel", options.numParallel, defaults.numParallel, 1)
    const maxQueue = yield* check.whole("maxQueue", options.maxQueue, defaults.maxQueue, 0)
    const tokenLatency = yield* check.distribution("tokenLatency", options.tokenLatency, defaults.tokenLatency)
    const loadTime = yield* check.distribution("loadTime", options.loadTime, defaults.loadTime)
    const keepAlive = OllamaModels.keepAliveMillis(options.keepAlive ?? defaults.keepAlive)
    if (typeof keepAlive === "string") return yield* check.refuse("keepAlive", keepAlive)
    const version = yield* check.nonEmptyString("version", options.version, defaults.version)
    const specs = options.models ?? OllamaModels.defaultModels
    if (!Array.isArray(specs) || specs.length === 0) {
      return yield* check.refuse("models", "must name at least one model")
    }
    const models = new Map<string, OllamaModels.Model>()
    for (const spec of specs) {
      const model = OllamaModels.fromSpec(spec)
      if (typeof model === "string") return yield* check.refuse("models", model)
      if (models.has(model.name)) return yield* check.refuse("models", `${model.name} is listed twice`)
      models.set(model.name, model)
    }
    const midStreamError = yield* check.probability("midStreamError", options.midStreamError, 0)
    const { seed } = yield* check.common(options)
    return { numParallel, maxQueue, tokenLatency, loadTime, keepAlive, version, models, midStreamError, seed }
  })
