/**
 * The OpenAI emulator's options checked, every default filled in.
 */
import * as Either from "effect/Either"
import type * as Emulator from "../Emulator.js"
import type * as Faults from "../Faults.js"
import type * as OpenAiEmulator from "../OpenAiEmulator.js"
import * as Checks from "./options.js"

/** The options, checked, with every default filled in. */
export interface Settings {
  readonly requestsPerMinute: number
  readonly tokensPerMinute: number
  /** Tokens billable in all; `Infinity` without a quota. */
  readonly quota: number
  readonly serviceTime: Faults.Distribution
  readonly tokenLatency: Faults.Distribution
  readonly windowMillis: number
  readonly models: ReadonlySet<string>
  readonly apiKey: string | undefined
  readonly retryHints: "both" | "retry-after" | "retry-after-ms" | "none"
  readonly shouldRetry: boolean | undefined
  readonly midStreamError: number
  readonly seed: number
  /** What `openai-organization` and the 429 messages name. */
  readonly organization: string
  readonly contextWindow: number
}

const check = Checks.forService("openai")

const retryHints = ["both", "retry-after", "retry-after-ms", "none"] as const

/** Every option checked, with its default. */
export const settings = (
  options: OpenAiEmulator.Options,
  defaults: typeof OpenAiEmulator.defaults
): Either.Either<Settings, Emulator.InvalidEmulatorOption> =>
  Either.gen(function*() {
    const requestsPerMinute = yield* check.whole(
      "requestsPerMinute",
      options.requestsPerMinute,
      defaults.requestsPerMinute,
      1
    )
    const tokensPerMinute = yield* check.whole("tokensPerMinute", options.tokensPerMinute, defaults.tokensPerMinute, 1)
    const quota = options.quota === undefined ? Infinity : yield* check.whole("quota", options.quota, 0, 0)
    const serviceTime = yield* check.distribution("serviceTime", options.serviceTime, defaults.serviceTime)
    const tokenLatency = yield* check.distribution("tokenLatency", options.tokenLatency, defaults.tokenLatency)
    const windowMillis = yield* check.millis("window", options.window, defaults.window, { above: 0 })
    const models = options.models ?? defaults.models
    if (!Array.isArray(models) || models.length === 0) {
      return yield* check.refuse("models", "must name at least one model")
    }
    for (const model of models) {
      if (typeof model !== "string" || model.trim() === "") {
        return yield* check.refuse("models", "a model name is empty")
      }
    }
    if (new Set(models).size !== models.length) {
      return yield* check.refuse("models", "a model is listed twice")
    }
    return {
      requestsPerMinute,
      tokensPerMinute,
      quota,
      serviceTime,
      tokenLatency,
      windowMillis,
      models: new Set(models),
      apiKey: yield* check.nonEmptyString("apiKey", options.apiKey, undefined),
      retryHints: yield* check.oneOf("retryHints", options.retryHints, defaults.retryHints, retryHints),
      shouldRetry: yield* check.boolean("shouldRetry", options.shouldRetry, undefined),
      midStreamError: yield* check.probability("midStreamError", options.midStreamError, 0),
      seed: (yield* check.common(options)).seed,
      organization: defaults.organization,
      contextWindow: defaults.contextWindow
    }
  })
