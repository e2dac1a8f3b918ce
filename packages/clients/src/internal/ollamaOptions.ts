/**
 * The Ollama client's options, checked once at construction: the policy laid
 * over the seed's, and the timeout of each model (by name, by size, or the
 * policy's).
 */
import type * as Errors from "@bulwark/core/Errors"
import type * as Policy from "@bulwark/core/Policy"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { sizeClass } from "./ollamaModelSize.js"
import * as options from "./options.js"

type PolicyOptions = Omit<Policy.Options, "service">

/** Refuses an Ollama option. */
export const invalid = options.invalid("ollama")

/** As `Ollama.ModelTimeouts`. */
export interface Timeouts {
  readonly small?: Duration.DurationInput | undefined
  readonly large?: Duration.DurationInput | undefined
  readonly byModel?: Readonly<Record<string, Duration.DurationInput>> | undefined
}

const positive = (field: string, input: Duration.DurationInput) => {
  const decoded = Duration.decodeUnknown(input)
  return decoded._tag === "Some" && Duration.isFinite(decoded.value) && Duration.toMillis(decoded.value) > 0
    ? Either.right(decoded.value)
    : Either.left(invalid(field, input, "a positive, finite duration"))
}

const withLatest = (model: string) => model.includes(":") ? model : `${model}:latest`

/** The timeout of each model: `byModel`, else the size rule, else `fallback` (the policy's). */
export const timeoutRule = (
  timeouts: Timeouts | false,
  defaults: { readonly small: Duration.DurationInput; readonly large: Duration.DurationInput },
  fallback: Duration.Duration | undefined
): Either.Either<(model: string) => Duration.Duration | undefined, Errors.InvalidPolicy> =>
  Either.gen(function*() {
    if (timeouts === false) return () => fallback
    const small = yield* positive("timeouts.small", timeouts.small ?? defaults.small)
    const large = yield* positive("timeouts.large", timeouts.large ?? defaults.large)
    const byModel = new Map<string, Duration.Duration>()
    for (const [name, input] of Object.entries(timeouts.byModel ?? {})) {
      if (name.trim() === "") return yield* Either.left(invalid("timeouts.byModel", name, "a model name"))
      byModel.set(withLatest(name), yield* positive(`timeouts.byModel.${name}`, input))
    }
    return (model: string) => {
      const own = byModel.get(withLatest(model))
      if (own !== undefined) return own
      switch (sizeClass(model)) {
        case "small":
          return small
        case "large":
          return large
        default:
          return fallback
      }
    }
  })

/** The policy options: the shared rule (`options.mergePolicy`), every layer merged field by field. */
export const policyOptions = (base: PolicyOptions, overrides: PolicyOptions | undefined): PolicyOptions =>
  options.mergePolicy(base, overrides)
