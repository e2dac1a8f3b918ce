import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Options, Settings, Trip } from "../CircuitBreaker.js"
import { configKeys } from "./breakerKeys.js"
import { validate } from "./breakerSettings.js"

/** The options one set of variables gives, and the variable behind each field. */
export interface EnvLayer {
  readonly options: Omit<Options, "isFailure">
  readonly keyOf: (field: string) => string | undefined
}

const optional = <A>(config: Config.Config<A>) =>
  Config.map(Config.option(config), (value) => Option.getOrUndefined(value))

/** Read as text, checked as a duration when the layers are merged. */
const duration = (name: string) => optional(Config.string(name)) as Config.Config<Duration.DurationInput | undefined>

const defined = <A extends object>(record: A): Partial<A> =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Partial<A>

const windowFields = {
  size: configKeys.windowSize,
  minimumCalls: configKeys.minimumCalls,
  duration: configKeys.windowDuration,
  minimumThroughput: configKeys.minimumThroughput,
  buckets: configKeys.windowBuckets
} as const

const plainFields = {
  openDuration: configKeys.openDuration,
  maxProbes: configKeys.maxProbes,
  successThreshold: configKeys.successThreshold,
  halfOpenRetryAfter: configKeys.halfOpenRetryAfter
} as const

/**
 * Reads the variables of one breaker, relative to any `Config.nested` prefix.
 * Numbers are read as numbers and durations as text; the values are checked
 * when the layers are merged, because `Config.duration` turns "-5 seconds" into
 * zero without a word.
 */
export const readEnv: Config.Config<EnvLayer> = Config.all({
  failureThreshold: optional(Config.number(configKeys.failureThreshold)),
  failureRatio: optional(Config.number(configKeys.failureRatio)),
  slowCallDuration: duration(configKeys.slowCallDuration),
  slowCallRatio: optional(Config.number(configKeys.slowCallRatio)),
  size: optional(Config.number(configKeys.windowSize)),
  minimumCalls: optional(Config.number(configKeys.minimumCalls)),
  duration: duration(configKeys.windowDuration),
  minimumThroughput: optional(Config.number(configKeys.minimumThroughput)),
  buckets: optional(Config.number(configKeys.windowBuckets)),
  openDuration: duration(configKeys.openDuration),
  maxProbes: optional(Config.number(configKeys.maxProbes)),
  successThreshold: optional(Config.number(configKeys.successThreshold)),
  halfOpenRetryAfter: duration(configKeys.halfOpenRetryAfter)
}).pipe(
  Config.mapOrFail((env) => {
    const window = defined({
      size: env.size,
      minimumCalls: env.minimumCalls,
      duration: env.duration,
      minimumThroughput: env.minimumThroughput,
      buckets: env.buckets
    })
    const trip: Array<Trip> = []
    const tripKeys: Array<Record<string, string>> = []
    if (env.failureThreshold !== undefined) {
      trip.push({ _tag: "ConsecutiveFailures", threshold: env.failureThreshold })
      tripKeys.push({ threshold: configKeys.failureThreshold })
    }
    if (env.failureRatio !== undefined) {
      trip.push({ _tag: "FailureRatio", ratio: env.failureRatio, ...window })
      tripKeys.push({ ratio: configKeys.failureRatio, ...windowFields })
    }
    if (env.slowCallDuration !== undefined || env.slowCallRatio !== undefined) {
      trip.push({
        _tag: "SlowCalls",
        ...defined({ threshold: env.slowCallDuration, ratio: env.slowCallRatio }),
        ...window
      })
      tripKeys.push({ threshold: configKeys.slowCallDuration, ratio: configKeys.slowCallRatio, ...windowFields })
    }
    const stray = Object.keys(window)[0] as keyof typeof windowFields | undefined
    const ratios = trip.filter((strategy) => strategy._tag !== "ConsecutiveFailures").length
    if (stray !== undefined && ratios === 0) {
      return Either.left(
        ConfigError.InvalidData(
          [windowFields[stray]],
          `${
            windowFields[stray]
          } sets the window of ${configKeys.failureRatio} or ${configKeys.slowCallDuration}; set one of them too`
        )
      )
    }
    const options: Omit<Options, "isFailure"> = {
      ...(trip.length === 0 ? {} : { trip }),
      ...defined({
        openDuration: env.openDuration,
        maxProbes: env.maxProbes,
        successThreshold: env.successThreshold,
        halfOpenRetryAfter: env.halfOpenRetryAfter
      })
    }
    const keyOf = (field: string): string | undefined => {
      const inTrip = /^trip\[(\d+)\]\.(\w+)$/.exec(field)
      if (inTrip !== null) return tripKeys[Number(inTrip[1])]?.[inTrip[2]!]
      return field in plainFields ? plainFields[field as keyof typeof plainFields] : undefined
    }
    return Either.right({ options, keyOf })
  })
)

/**
 * Merges the user's defaults with layers of variables (later ones win) and
 * validates the result; a refusal names the variable it came from, under the
 * layer's path.
 */
export const merge = <E>(
  defaults: Options<E>,
  layers: ReadonlyArray<readonly [path: ReadonlyArray<string>, layer: EnvLayer]>
): Either.Either<Settings<E>, ConfigError.ConfigError> => {
  let merged: Options<E> = defaults
  const origin = new Map<string, number>()
  layers.forEach(([, layer], index) => {
    merged = { ...merged, ...layer.options }
    for (const field of Object.keys(layer.options)) origin.set(field, index)
  })
  return Either.mapLeft(validate(merged), (invalid) => {
    const top = invalid.field.startsWith("trip") ? "trip" : invalid.field
    const index = origin.get(top)
    if (index === undefined) return ConfigError.InvalidData([invalid.field], invalid.message)
    const [path, layer] = layers[index]!
    return ConfigError.InvalidData([...path, layer.keyOf(invalid.field) ?? invalid.field], invalid.message)
  })
}

export const config = <E>(defaults: Options<E>): Config.Config<Settings<E>> =>
  Config.mapOrFail(readEnv, (layer) => merge(defaults, [[[], layer]]))
