/**
 * The checks every client's `make` runs on its options, so a bad one fails
 * the same way everywhere: an `InvalidPolicy` naming the option, what was
 * given and what was expected.
 */
import * as Errors from "@bulwark/core/Errors"
import * as Policy from "@bulwark/core/Policy"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { PolicyOptions } from "./config.js"

/** The refusal of one option of client `policy` (the client's name). */
export const invalid = (policy: string) => (field: string, value: unknown, expected: string): Errors.InvalidPolicy =>
  new Errors.InvalidPolicy({ policy, field, value: String(value), expected })

/** A policy already built (to share its breaker and limiters), not options for one. */
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

/**
 * The policy of a client whose `policy` option is options laid over its
 * defaults layer by layer (a layer given replaces the default's whole),
 * `false` for none, or a policy already built.
 */
export const policy = (
  service: string,
  defaults: PolicyOptions,
  option: PolicyOptions | Policy.Policy | false | undefined
): Effect.Effect<Policy.Policy, Errors.InvalidPolicy> =>
  isPolicy(option)
    ? Effect.succeed(option)
    : Policy.make({ ...(option === false ? {} : { ...defaults, ...option }), service })

/**
 * The policy options a client's environment is read over (see
 * `config.policy`): none when the caller gave a built policy or `false`,
 * which no variable can change.
 */
export const configBase = (
  defaults: PolicyOptions,
  option: PolicyOptions | Policy.Policy | false | undefined
): PolicyOptions | undefined => option === false || isPolicy(option) ? undefined : { ...defaults, ...option }
