/**
 * The checks every client's `make` runs on its options, so a bad one fails
 * the same way everywhere: an `InvalidPolicy` naming the option, what was
 * given and what was expected.
 */
import * as Classify from "@bulwark/core/Classify"
import * as Errors from "@bulwark/core/Errors"
import * as Policy from "@bulwark/core/Policy"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { policyKeys, type PolicyOptions } from "./config.js"

/** The refusal of one option of client `policy` (the client's name). */
export const invalid = (policy: string) => (field: string, value: unknown, expected: string): Errors.InvalidPolicy =>
  new Errors.InvalidPolicy({ policy, field, value: String(value), expected })

/** A policy already built (to share its breaker and limiters), not options for one. */
/**
 * The standard breaker, counting outages only: a 429 proves the service is up
 * and answering, and its Retry-After is waited out by the retry and the shared
 * gate. Counted, a rate-limit storm would open the breaker for a minute and
 * turn every wait the server asked for into a minute.
 */
export const outageBreaker = {
  ...Policy.standardDefaults.circuitBreaker,
  isFailure: Classify.except(Classify.isServiceFailure, Classify.isRateLimited)
}

export const isPolicy = (policy: unknown): policy is Policy.Policy =>
  typeof policy === "object" && policy !== null && typeof (policy as Policy.Policy).protect === "function"

/** An absolute http(s) URL without its trailing slashes, or `undefined`. */
export const httpUrl = (raw: unknown): string | undefined => {
  const parsed = typeof raw === "string" && URL.canParse(raw) ? new URL(raw) : undefined
  return parsed !== undefined && (parsed.protocol === "http:" || parsed.protocol === "https:")
    ? parsed.href.replace(/\/+$/, "")
    : undefined
}

/** A finite duration, or the refusal naming `field`. */
export const finiteDuration = (
  refuse: ReturnType<typeof invalid>,
  field: string,
  input: unknown
): Either.Either<Duration.Duration, Errors.InvalidPolicy> => {
  const decoded = Duration.decodeUnknown(input)
  return Option.isSome(decoded) && Duration.isFinite(decoded.value)
    ? Either.right(decoded.value)
    : Either.left(refuse(field, input, "a finite duration"))
}

const isPlain = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null) return false
  const proto = Object.getPrototypeOf(value)
  // a Duration or a built layer is a value, not options to merge into
  return proto === Object.prototype || proto === null
}

/**
 * The one rule of every client's `policy` option over its defaults: a layer
 * given as options is merged field by field into the default's (so
 * `{ retry: { maxAttempts: 2 } }` keeps the seed's delays and rate-limit
 * handling); a layer given as `false` is removed; any other value (a
 * duration) replaces the default's; `false` for the whole removes every layer,
 * and a policy already built replaces everything.
 */
export function mergePolicy(defaults: PolicyOptions, overrides: PolicyOptions | false | undefined): PolicyOptions
export function mergePolicy(
  defaults: PolicyOptions,
  overrides: PolicyOptions | Policy.Policy | false | undefined
): PolicyOptions | Policy.Policy
export function mergePolicy(
  defaults: PolicyOptions,
  overrides: PolicyOptions | Policy.Policy | false | undefined
): PolicyOptions | Policy.Policy {
  if (overrides === undefined) return defaults
  if (overrides === false) return {}
  if (isPolicy(overrides)) return overrides
  const merged: Record<string, unknown> = { ...defaults }
  for (const [key, own] of Object.entries(overrides)) {
    if (own === undefined) continue
    const inherited = merged[key]
    merged[key] = isPlain(own) && isPlain(inherited) ? { ...inherited, ...own } : own
  }
  return merged as PolicyOptions
}

/**
 * The policy of a client: its `policy` option over its defaults (see
 * {@link mergePolicy}).
 */
export const policy = (
  service: string,
  defaults: PolicyOptions,
  option: PolicyOptions | Policy.Policy | false | undefined
): Effect.Effect<Policy.Policy, Errors.InvalidPolicy> => {
  const merged = mergePolicy(defaults, option)
  return isPolicy(merged) ? Effect.succeed(merged) : Policy.make({ ...merged, service })
}

/**
 * The policy options a client's environment is read over (see
 * `config.policy`): none when the caller gave a built policy or `false`,
 * which no variable can change.
 */
export const configBase = (
  defaults: PolicyOptions,
  option: PolicyOptions | Policy.Policy | false | undefined
): PolicyOptions | undefined => option === false || isPolicy(option) ? undefined : mergePolicy(defaults, option)

/**
 * The variables (relative to the client's prefix) that can explain the
 * refusal of a policy field built from the environment, most likely first:
 * an attempt timeout longer than the total one is the `TIMEOUT` set, else the
 * `TOTAL_TIMEOUT` set.
 */
export const policyVariables: Readonly<Record<string, ReadonlyArray<string>>> = {
  maxAttempts: [policyKeys.maxAttempts],
  base: [policyKeys.baseDelay, policyKeys.maxDelay],
  maxDelay: [policyKeys.maxDelay, policyKeys.baseDelay],
  attemptTimeout: [policyKeys.timeout, policyKeys.totalTimeout],
  totalTimeout: [policyKeys.totalTimeout, policyKeys.timeout],
  openDuration: [policyKeys.openDuration],
  failureThreshold: [policyKeys.failureThreshold],
  trip: [policyKeys.failureThreshold]
}

const variablesOf = (table: Readonly<Record<string, ReadonlyArray<string>>>, field: string) => {
  const own = table[field]
  if (own !== undefined) return own
  // "timeouts.byModel.codellama:70b" is explained by the entry of "timeouts.byModel"
  const parent = Object.keys(table).filter((key) => field.startsWith(`${key}.`)).sort((a, b) => b.length - a.length)[0]
  return parent === undefined ? [] : table[parent] ?? []
}

/**
 * What a `layerConfig` fails with when `make` refuses the options it read:
 * a `ConfigError.InvalidData` at the first variable of `table[error.field]`
 * that is set (each value passed its own check, but not the policy's, such
 * as a `TIMEOUT` longer than the `TOTAL_TIMEOUT`), else the refusal itself
 * (the options given in code were wrong).
 */
export const refusedByConfig = (prefix: string, table: Readonly<Record<string, ReadonlyArray<string>>>) =>
(
  error: Errors.InvalidPolicy
): Effect.Effect<never, ConfigError.ConfigError | Errors.InvalidPolicy> =>
  Effect.gen(function*() {
    for (const name of variablesOf(table, error.field)) {
      const set = yield* Config.option(Config.string(name)).pipe(Config.nested(prefix))
      if (Option.isSome(set)) {
        return yield* Effect.fail(ConfigError.InvalidData([prefix, name], `${prefix}_${name}: ${error.message}`))
      }
    }
    return yield* Effect.fail(error)
  })
