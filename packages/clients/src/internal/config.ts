/**
 * The environment variables every client reads, relative to its
 * `Config.nested` prefix (ORPHEUS, OLLAMA, LLM, GITHUB). Each is read as text
 * and checked here, so a bad value is a ConfigError naming the variable —
 * `Config.duration` would turn "-5 seconds" into zero without a word.
 */
import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import type * as Policy from "@bulwark/core/Policy"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"

/** The policy options of a client, without its service name. */
export type PolicyOptions = Omit<Policy.Options, "service">

/** A variable that may be unset (`undefined` then). */
export const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  Config.map(Config.option(config), Option.getOrUndefined)

const units = /^(\d+(?:\.\d+)?)\s*(nanos?|micros?|millis?|seconds?|minutes?|hours?|days?|weeks?)$/

/**
 * A non-negative duration written as a number and a unit ("30 seconds",
 * "500 millis"), or `undefined`: the one reading of every duration variable,
 * and of the durations inside a list variable.
 */
export const parseDuration = (text: string): Duration.Duration | undefined => {
  const match = units.exec(text.trim())
  return match === null ? undefined : Option.getOrUndefined(Duration.decodeUnknown(`${match[1]} ${match[2]}`))
}

/** A non-negative duration such as "30 seconds" or "500 millis". */
export const duration = (name: string): Config.Config<Duration.Duration> =>
  Config.mapOrFail(Config.string(name), (text) => {
    const decoded = parseDuration(text)
    return decoded !== undefined
      ? Either.right(decoded)
      : Either.left(
        ConfigError.InvalidData([], `Expected a duration such as "30 seconds" or "500 millis", got "${text}"`)
      )
  })

/** A duration, or `off` (no limit). */
export const durationOrOff = (name: string): Config.Config<Duration.Duration | false> =>
  Config.orElse(
    Config.mapOrFail(Config.string(name), (text) =>
      text.trim().toLowerCase() === "off"
        ? Either.right(false as const)
        : Either.left(ConfigError.InvalidData([], "not off"))),
    () => duration(name)
  )

/** A whole number ≥ `min`. */
export const integer = (name: string, min: number): Config.Config<number> =>
  Config.mapOrFail(Config.string(name), (text) =>
    /^\s*\d+\s*$/.test(text) && Number(text) >= min
      ? Either.right(Number(text))
      : Either.left(ConfigError.InvalidData([], `Expected a whole number ≥ ${min}, got "${text}"`)))

/** An absolute http(s) URL, without its trailing slash. */
export const url = (name: string): Config.Config<string> =>
  Config.mapOrFail(Config.string(name), (text) => {
    const parsed = Either.try(() => new URL(text.trim()))
    return Either.isRight(parsed) && (parsed.right.protocol === "http:" || parsed.right.protocol === "https:")
      ? Either.right(parsed.right.href.replace(/\/$/, ""))
      : Either.left(ConfigError.InvalidData([], `Expected an http(s) URL, got "${text}"`))
  })

/** A secret: never logged, never in an error. */
export const redacted = (name: string): Config.Config<Redacted.Redacted> => Config.redacted(name)

/** The variables of {@link policy}. */
export const policyKeys = {
  maxAttempts: "RETRY_MAX_ATTEMPTS",
  baseDelay: "RETRY_BASE_DELAY",
  maxDelay: "RETRY_MAX_DELAY",
  timeout: "TIMEOUT",
  totalTimeout: "TOTAL_TIMEOUT",
  failureThreshold: "BREAKER_FAILURE_THRESHOLD",
  openDuration: "BREAKER_OPEN_DURATION"
} as const

/**
 * The client's policy: `defaults`, with what the variables set on top.
 * `TIMEOUT` is the attempt timeout; `TIMEOUT` and `TOTAL_TIMEOUT` take `off`.
 * Retry and breaker variables only apply where the defaults have that layer.
 */
export const policy = (defaults: PolicyOptions): Config.Config<PolicyOptions> =>
  Config.map(
    Config.all({
      maxAttempts: optional(integer(policyKeys.maxAttempts, 1)),
      base: optional(duration(policyKeys.baseDelay)),
      maxDelay: optional(duration(policyKeys.maxDelay)),
      attemptTimeout: optional(durationOrOff(policyKeys.timeout)),
      totalTimeout: optional(durationOrOff(policyKeys.totalTimeout)),
      failureThreshold: optional(integer(policyKeys.failureThreshold, 1)),
      openDuration: optional(duration(policyKeys.openDuration))
    }),
    (env): PolicyOptions => {
      const defined = <A extends object>(fields: A) =>
        Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<A>
      const retry = defaults.retry === false || defaults.retry === undefined
        ? defaults.retry
        : { ...defaults.retry, ...defined({ maxAttempts: env.maxAttempts, base: env.base, maxDelay: env.maxDelay }) }
      const breaker = defaults.circuitBreaker === false || defaults.circuitBreaker === undefined
        ? defaults.circuitBreaker
        : {
          ...defaults.circuitBreaker,
          ...defined({ openDuration: env.openDuration }),
          ...(env.failureThreshold === undefined
            ? {}
            : { trip: CircuitBreaker.consecutiveFailures(env.failureThreshold) })
        }
      return {
        ...defaults,
        ...(retry === undefined ? {} : { retry }),
        ...(breaker === undefined ? {} : { circuitBreaker: breaker }),
        ...defined({ attemptTimeout: env.attemptTimeout, totalTimeout: env.totalTimeout })
      }
    }
  )
