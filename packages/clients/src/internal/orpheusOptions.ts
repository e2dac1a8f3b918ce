/**
 * The Orpheus client's options, checked and resolved: one base URL per model,
 * the busy wait without Retry-After, and the policy laid over the defaults.
 */
import type * as Errors from "@bulwark/core/Errors"
import type * as Policy from "@bulwark/core/Policy"
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type { Model } from "../OrpheusSchema.js"
import * as config from "./config.js"
import * as options from "./options.js"

type PolicyOptions = Omit<Policy.Options, "service">

/** Refuses an Orpheus option. */
export const invalid = options.invalid("orpheus")

/** The shared rule (`options.mergePolicy`): layers merged field by field, `false` removes. */
export const mergePolicy = (base: PolicyOptions, over: PolicyOptions | false | undefined): PolicyOptions =>
  options.mergePolicy(base, over)

/** Each model's base URL: the caller's where given, else the default; each an http(s) URL. */
export const urls = (
  models: ReadonlyArray<Model>,
  given: Partial<Record<Model, string>> | undefined,
  defaults: Readonly<Record<Model, string>>
): Effect.Effect<Record<Model, string>, Errors.InvalidPolicy> =>
  Effect.gen(function*() {
    const resolved = {} as Record<Model, string>
    for (const model of models) {
      const raw = given?.[model] ?? defaults[model]
      const url = options.httpUrl(raw)
      if (url === undefined) return yield* invalid(`urls.${model}`, raw, "an http(s) URL")
      resolved[model] = url
    }
    return resolved
  })

/** The busy wait without Retry-After: a finite duration. */
export const busyWait = (input: Duration.DurationInput): Either.Either<Duration.Duration, Errors.InvalidPolicy> =>
  options.finiteDuration(invalid, "busyRetryAfter", input)

interface Given {
  readonly urls?: Partial<Record<Model, string>> | undefined
  readonly busyRetryAfter?: Duration.DurationInput | undefined
  readonly policy?: PolicyOptions | false | undefined
}

/**
 * The options from the environment under `ORPHEUS_`, laid over `given`: a
 * variable that is set wins; a bad one is a `ConfigError` naming it.
 */
export const fromEnv = <O extends Given>(
  given: O,
  defaults: { readonly policy: PolicyOptions },
  keys: { readonly urls: Readonly<Record<Model, string>>; readonly busyRetryAfter: string },
  models: ReadonlyArray<Model>
): Config.Config<O> =>
  Config.all({
    urls: Config.all(Object.fromEntries(models.map((model) => [model, config.optional(config.url(keys.urls[model]))]))),
    busyRetryAfter: config.optional(config.duration(keys.busyRetryAfter)),
    policy: given.policy === false
      ? Config.succeed(false as const)
      : config.policy(mergePolicy(defaults.policy, given.policy))
  }).pipe(
    Config.nested("ORPHEUS"),
    Config.map((env) => {
      const urls: Partial<Record<Model, string>> = { ...given.urls }
      for (const [model, url] of Object.entries(env.urls)) if (url !== undefined) urls[model as Model] = url
      return { ...given, urls, policy: env.policy, busyRetryAfter: env.busyRetryAfter ?? given.busyRetryAfter }
    })
  )
