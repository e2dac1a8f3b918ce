/**
 * One circuit breaker per service name (seed 004: `claude_api`, `agent_http`),
 * created on first use from per-name options, listable with their stats for a
 * /heartbeat page.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SynchronizedRef from "effect/SynchronizedRef"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import { InvalidPolicy } from "./Errors.js"
import { merge, readEnv } from "./internal/breakerConfig.js"
import { build } from "./internal/breakerInstance.js"
import { firstCursor, validate } from "./internal/breakerSettings.js"

/**
 * The breakers of a process, by service name.
 *
 * @since 0.1.0
 * @category Tags
 */
export class CircuitBreakers extends Context.Tag("@bulwark/core/CircuitBreakers")<
  CircuitBreakers,
  CircuitBreakers.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace CircuitBreakers {
  /**
   * @since 0.1.0
   * @category Models
   */
  export interface Service {
    /**
     * The breaker of `service`, created on first use. Every option was checked when
     * the registry was made, so the one refusal left is of the name itself: an
     * empty one fails with `InvalidPolicy` (field `service`), and no breaker is made.
     */
    readonly get: (service: string) => Effect.Effect<CircuitBreaker.CircuitBreaker, InvalidPolicy>
    /** `effect.pipe(breakers.protect("claude_api"))`; an empty name fails as in {@link get}, without running `self`. */
    readonly protect: (
      service: string
    ) => <A, E, R>(
      self: Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E | CircuitBreaker.Rejection | InvalidPolicy, R>
    /** Every breaker created so far, in order of creation. */
    readonly list: Effect.Effect<ReadonlyArray<CircuitBreaker.CircuitBreaker>>
    readonly stats: Effect.Effect<ReadonlyArray<CircuitBreaker.Stats>>
    readonly snapshot: Effect.Effect<ReadonlyArray<CircuitBreaker.Snapshot>>
    /** State changes of every breaker, from the moment the stream starts running. */
    readonly changes: Stream.Stream<CircuitBreaker.StateChange>
    /** Subscribes now, so no change made after this effect is missed; the stream ends with the scope. */
    readonly subscribe: Effect.Effect<Stream.Stream<CircuitBreaker.StateChange>, never, Scope.Scope>
  }
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Options of every breaker. Default: {@link CircuitBreaker.defaults}. */
  readonly defaults?: CircuitBreaker.Options | undefined
  /** Options of one service, over `defaults`. */
  readonly byName?: Readonly<Record<string, CircuitBreaker.Options>> | undefined
  /** Saved states (from {@link CircuitBreakers.Service.snapshot}); their breakers are created at once. */
  readonly restore?: ReadonlyArray<CircuitBreaker.Snapshot> | undefined
}

interface Resolved {
  readonly defaults: CircuitBreaker.Settings
  readonly byName: ReadonlyMap<string, CircuitBreaker.Settings>
  readonly restore: ReadonlyArray<CircuitBreaker.Snapshot>
}

const fromResolved = (resolved: Resolved): Effect.Effect<CircuitBreakers.Service, InvalidPolicy> =>
  Effect.gen(function*() {
    const hub = yield* PubSub.unbounded<CircuitBreaker.StateChange>()
    const ref = yield* SynchronizedRef.make<ReadonlyMap<string, CircuitBreaker.CircuitBreaker>>(new Map())
    const saved = new Map(resolved.restore.map((snapshot) => [snapshot.service, snapshot]))
    const create = (service: string) =>
      SynchronizedRef.modifyEffect(ref, (breakers) => {
        const existing = breakers.get(service)
        if (existing !== undefined) return Effect.succeed([existing, breakers] as const)
        return Effect.map(
          build(resolved.byName.get(service) ?? resolved.defaults, {
            service,
            restore: saved.get(service),
            publish: (change) => PubSub.publish(hub, change)
          }),
          (breaker) => [breaker, new Map(breakers).set(service, breaker)] as const
        )
      })
    // `build` would refuse a schedule that ends at once only on first use, as a failure of `get`.
    const now = yield* Clock.currentTimeMillis
    yield* Effect.mapError(firstCursor(resolved.defaults.openDuration, now), within("defaults"))
    for (const [service, settings] of resolved.byName) {
      yield* Effect.mapError(firstCursor(settings.openDuration, now), within(`byName.${service}`))
    }
    for (const service of saved.keys()) yield* create(service)

    const get = (service: string) =>
      Effect.flatMap(SynchronizedRef.get(ref), (breakers) => {
        const existing = breakers.get(service)
        return existing === undefined ? create(service) : Effect.succeed(existing)
      })
    const list = Effect.map(SynchronizedRef.get(ref), (breakers) => [...breakers.values()])
    return {
      get,
      protect: (service) => (self) => Effect.flatMap(get(service), (breaker) => breaker.protect(self)),
      list,
      stats: Effect.flatMap(list, Effect.forEach((breaker) => breaker.stats)),
      snapshot: Effect.flatMap(list, Effect.forEach((breaker) => breaker.snapshot)),
      changes: Stream.fromPubSub(hub),
      subscribe: Stream.fromPubSub(hub, { scoped: true })
    }
  })

const within = (prefix: string) => (invalid: InvalidPolicy) =>
  new InvalidPolicy({ ...invalid, field: `${prefix}.${invalid.field}` })

/**
 * Validates every option up front: a bad `byName` entry fails here, not on first use.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<CircuitBreakers.Service, InvalidPolicy> =>
  Effect.gen(function*() {
    const defaults = yield* Either.mapLeft(validate(options.defaults), within("defaults"))
    const byName = new Map<string, CircuitBreaker.Settings>()
    for (const [service, own] of Object.entries(options.byName ?? {})) {
      byName.set(service, yield* Either.mapLeft(validate({ ...options.defaults, ...own }), within(`byName.${service}`)))
    }
    return yield* fromResolved({ defaults, byName, restore: options.restore ?? [] })
  })

/**
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}): Layer.Layer<CircuitBreakers, InvalidPolicy> =>
  Layer.effect(CircuitBreakers, make(options))

/**
 * The segment of a service in variable names: `claude_api` → `CLAUDE_API`, `agent-http` → `AGENT_HTTP`.
 *
 * @since 0.1.0
 * @category Config
 */
export const envName = (service: string): string => service.toUpperCase().replace(/[^A-Z0-9]+/g, "_")

/**
 * @since 0.1.0
 * @category Options
 */
export interface ConfigOptions extends Options {
  /** Services whose own variables are read, besides the keys of `byName`. */
  readonly names?: ReadonlyArray<string> | undefined
  /** The first segment of every variable. Default `"CIRCUIT"`. */
  readonly prefix?: string | undefined
}

const config = (options: ConfigOptions): Config.Config<Resolved> => {
  const names = [...new Set([...(options.names ?? []), ...Object.keys(options.byName ?? {})])]
  return Config.all({
    defaults: Config.nested(readEnv, "DEFAULT"),
    named: Config.all(names.map((service) => Config.nested(readEnv, envName(service))))
  }).pipe(
    Config.mapOrFail(({ defaults, named }) =>
      Either.gen(function*() {
        const base = yield* merge(options.defaults ?? {}, [[["DEFAULT"], defaults]])
        const byName = new Map<string, CircuitBreaker.Settings>()
        for (let i = 0; i < names.length; i++) {
          const service = names[i]!
          const own = { ...options.defaults, ...options.byName?.[service] }
          byName.set(service, yield* merge(own, [[["DEFAULT"], defaults], [[envName(service)], named[i]!]]))
        }
        return { defaults: base, byName, restore: options.restore ?? [] }
      })
    ),
    Config.nested(options.prefix ?? "CIRCUIT")
  )
}

/**
 * {@link layer} with options from the environment. Every breaker reads
 * `<PREFIX>_DEFAULT_<KEY>`, and a named one (`names`, `byName`) also
 * `<PREFIX>_<NAME>_<KEY>` ({@link envName}), with the keys of
 * {@link CircuitBreaker.configKeys}. Later wins: Bulwark's defaults, `defaults`,
 * `byName[name]`, the `DEFAULT` variables, the name's variables. A bad value
 * fails with a `ConfigError` naming the variable.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  options: ConfigOptions = {}
): Layer.Layer<CircuitBreakers, ConfigError.ConfigError | InvalidPolicy> =>
  Layer.effect(CircuitBreakers, Effect.flatMap(config(options), fromResolved))
