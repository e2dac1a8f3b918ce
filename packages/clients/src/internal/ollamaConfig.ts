/**
 * The Ollama client's environment, under `OLLAMA_`: the shared policy
 * variables plus `HOST` (read as Ollama reads it), the size-rule timeouts and
 * `MODEL_TIMEOUTS`. A breaker is on only when a `BREAKER_*` variable is set:
 * the seed has none.
 */
import type * as Policy from "@bulwark/core/Policy"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ClientConfig from "./config.js"
import { parseHost } from "./ollamaHost.js"

/** What the environment gives `Ollama.make`. */
export interface FromEnv {
  /** `undefined` when `HOST` is unset. */
  readonly baseUrl: string | undefined
  readonly policy: Omit<Policy.Options, "service">
  readonly timeouts: {
    readonly small?: Duration.DurationInput
    readonly large?: Duration.DurationInput
    readonly byModel: Readonly<Record<string, Duration.Duration>>
  }
}

/** The variable names under the prefix. */
export const keys = {
  host: "HOST",
  timeoutSmall: "TIMEOUT_SMALL",
  timeoutLarge: "TIMEOUT_LARGE",
  modelTimeouts: "MODEL_TIMEOUTS"
} as const

const host = ClientConfig.optional(
  Config.mapOrFail(
    Config.string(keys.host),
    (text) =>
      Either.mapLeft(parseHost(text), (reason) => ConfigError.InvalidData([], `Expected host:port or a URL: ${reason}`))
  )
)

/** `name=duration` pairs separated by commas. */
const modelTimeouts = Config.withDefault(
  Config.mapOrFail(
    Config.string(keys.modelTimeouts),
    (text) => {
      const byModel: Record<string, Duration.Duration> = {}
      for (const pair of text.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
        const at = pair.lastIndexOf("=")
        const name = at === -1 ? "" : pair.slice(0, at).trim()
        const parsed = at === -1 ? undefined : ClientConfig.parseDuration(pair.slice(at + 1))
        if (name === "" || parsed === undefined) {
          return Either.left(
            ConfigError.InvalidData(
              [],
              `Expected model=duration pairs such as "codellama:70b=15 minutes", got "${pair}"`
            )
          )
        }
        byModel[name] = parsed
      }
      return Either.right(byModel)
    }
  ),
  {}
)

const breakerSet = Config.map(
  Config.all([
    Config.option(Config.string(ClientConfig.policyKeys.failureThreshold)),
    Config.option(Config.string(ClientConfig.policyKeys.openDuration))
  ]),
  ([threshold, open]) => Option.isSome(threshold) || Option.isSome(open)
)

/** The environment under `OLLAMA_`, over the client's defaults. */
export const config = (defaults: {
  readonly policy: Omit<Policy.Options, "service">
  readonly circuitBreaker: NonNullable<Policy.Options["circuitBreaker"]>
}): Config.Config<FromEnv> =>
  Config.nested(
    Config.all({
      baseUrl: host,
      breaker: breakerSet,
      // both read the same variables: which one applies depends on whether a breaker is asked for
      withBreaker: ClientConfig.policy({ ...defaults.policy, circuitBreaker: defaults.circuitBreaker }),
      withoutBreaker: ClientConfig.policy(defaults.policy),
      small: Config.option(ClientConfig.duration(keys.timeoutSmall)),
      large: Config.option(ClientConfig.duration(keys.timeoutLarge)),
      byModel: modelTimeouts
    }),
    "OLLAMA"
  ).pipe(Config.map(({ baseUrl, breaker, byModel, large, small, withBreaker, withoutBreaker }): FromEnv => ({
    baseUrl,
    policy: breaker ? withBreaker : withoutBreaker,
    timeouts: {
      ...Option.match(small, { onNone: () => ({}), onSome: (value) => ({ small: value }) }),
      ...Option.match(large, { onNone: () => ({}), onSome: (value) => ({ large: value }) }),
      byModel
    }
  })))
