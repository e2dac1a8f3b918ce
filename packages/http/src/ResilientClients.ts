/**
 * One `ResilientClient` per service name, built once and shared: every caller
 * of `orpheus` goes through the same breaker, budget, gate and limiters.
 * Per-service options (policy, classification) are given when the layer is
 * built; a service without its own options gets the defaults.
 *
 * @since 0.1.0
 */
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as Errors from "@bulwark/core/Errors"
import * as Policy from "@bulwark/core/Policy"
import * as Retry from "@bulwark/core/Retry"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SynchronizedRef from "effect/SynchronizedRef"
import * as HttpFailures from "./HttpFailures.js"
import * as ResilientClient from "./ResilientClient.js"

/**
 * The resilient clients of a process, by service name.
 *
 * @since 0.1.0
 * @category Tags
 */
export class ResilientClients extends Context.Tag("@bulwark/http/ResilientClients")<
  ResilientClients,
  ResilientClients.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace ResilientClients {
  /**
   * @since 0.1.0
   * @category Models
   */
  export interface Service {
    /**
     * The client of `service`, built on first use and the same on every later
     * call. Fails with `InvalidPolicy` for an empty name, or when the defaults
     * turn out invalid for it (every named service was built with the layer).
     */
    readonly get: (service: string) => Effect.Effect<ResilientClient.ResilientClient<unknown>, Errors.InvalidPolicy>
    /** `get(service)`, then `execute`. */
    readonly execute: (
      service: string,
      request: HttpClientRequest.HttpClientRequest,
      options?: ResilientClient.RequestOptions
    ) => Effect.Effect<HttpClientResponse.HttpClientResponse, ResilientClient.Failure<unknown>>
    /** Every client built so far, in order of creation. */
    readonly list: Effect.Effect<ReadonlyArray<ResilientClient.ResilientClient<unknown>>>
    /** The policy stats of every client, for a status page. */
    readonly stats: Effect.Effect<ReadonlyArray<Policy.Stats>>
  }
}

/**
 * The options of one service: those of `ResilientClient.make` without `service`.
 *
 * @since 0.1.0
 * @category Options
 */
export type ServiceOptions = Omit<ResilientClient.Options<unknown>, "service">

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Options of a service not in `byName`. Default: `Policy.standard`, the standard classification. */
  readonly defaults?: ServiceOptions | undefined
  /** Options of one service, replacing `defaults` whole; built with the layer. */
  readonly byName?: Readonly<Record<string, ServiceOptions>> | undefined
}

// What can be checked without building state (a breaker sets its gauge when built).
const checkDefaults = (defaults: ServiceOptions): Either.Either<void, Errors.InvalidPolicy> =>
  Either.gen(function*() {
    yield* HttpFailures.classify(defaults.classify)
    const policy = defaults.policy
    if (policy !== undefined && !isPolicy(policy) && policy.retry !== undefined && policy.retry !== false) {
      yield* Retry.policy(policy.retry)
    }
  })

const isPolicy = (policy: ServiceOptions["policy"]): policy is Policy.Policy =>
  policy !== undefined && typeof (policy as Policy.Policy).protect === "function"

const within = (prefix: string) => (invalid: Errors.InvalidPolicy) =>
  new Errors.InvalidPolicy({ ...invalid, field: `${prefix}.${invalid.field}` })

/**
 * Builds every named client now (an invalid option fails here, naming
 * `byName.<service>.<field>`), the others on first use, over the
 * `HttpClient` in context.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<ResilientClients.Service, Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const defaults = options.defaults ?? {}
    yield* Either.mapLeft(checkDefaults(defaults), within("defaults"))
    const base = yield* HttpClient.HttpClient
    const build = (service: string, own: ServiceOptions) =>
      ResilientClient.make<unknown>({ ...own, service }).pipe(Effect.provideService(HttpClient.HttpClient, base))
    const ref = yield* SynchronizedRef.make<ReadonlyMap<string, ResilientClient.ResilientClient<unknown>>>(new Map())
    const create = (service: string) =>
      SynchronizedRef.modifyEffect(ref, (clients) => {
        const existing = clients.get(service)
        if (existing !== undefined) return Effect.succeed([existing, clients] as const)
        return Effect.map(
          build(service, options.byName?.[service] ?? defaults),
          (client) => [client, new Map(clients).set(service, client)] as const
        )
      })
    for (const [service, own] of Object.entries(options.byName ?? {})) {
      yield* Effect.mapError(build(service, own), within(`byName.${service}`)).pipe(
        Effect.flatMap((client) => SynchronizedRef.update(ref, (clients) => new Map(clients).set(service, client)))
      )
    }
    const get = (service: string) =>
      Effect.flatMap(SynchronizedRef.get(ref), (clients) => {
        const existing = clients.get(service)
        return existing === undefined ? create(service) : Effect.succeed(existing)
      })
    const list = Effect.map(SynchronizedRef.get(ref), (clients) => [...clients.values()])
    return {
      get,
      execute: (service, request, requestOptions) =>
        Effect.flatMap(get(service), (client) => client.execute(request, requestOptions)),
      list,
      stats: Effect.flatMap(list, Effect.forEach((client) => client.policy.stats))
    }
  })

/**
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<ResilientClients, Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Layer.effect(ResilientClients, make(options))

/**
 * The variables of one service besides the retry's (`RETRY_` + the keys of
 * `Retry.configKeys`), relative to `<PREFIX>_<NAME>_` or `<PREFIX>_DEFAULT_`.
 * A timeout reads as "30 seconds", "500 millis", or `off`.
 *
 * @since 0.1.0
 * @category Config
 */
export const configKeys = {
  attemptTimeout: "ATTEMPT_TIMEOUT",
  totalTimeout: "TOTAL_TIMEOUT",
  retry: "RETRY"
} as const

/**
 * @since 0.1.0
 * @category Options
 */
export interface ConfigOptions extends Options {
  /** Services whose own variables are read, besides the keys of `byName`. */
  readonly names?: ReadonlyArray<string> | undefined
  /** The first segment of every variable. Default `"HTTP"`. */
  readonly prefix?: string | undefined
}

type PolicyOptions = Omit<Policy.Options, "service">

interface EnvLayer {
  readonly retry: Record<string, unknown>
  readonly attemptTimeout: string | undefined
  readonly totalTimeout: string | undefined
}

const optional = <A>(config: Config.Config<A>) => Config.map(Config.option(config), Option.getOrUndefined)

const retryKeys = Retry.configKeys

// Read as text and checked by the policy, because `Config.duration` turns "-5 seconds" into zero.
const readEnv: Config.Config<EnvLayer> = Config.all({
  retry: Config.nested(
    Config.all({
      maxAttempts: optional(Config.number(retryKeys.maxAttempts)),
      base: optional(Config.string(retryKeys.base)),
      factor: optional(Config.number(retryKeys.factor)),
      maxDelay: optional(Config.string(retryKeys.maxDelay)),
      jitter: optional(Config.string(retryKeys.jitter)),
      maxElapsed: optional(Config.string(retryKeys.maxElapsed)),
      retryAfter: optional(Config.string(retryKeys.retryAfter)),
      maxRetryAfter: optional(Config.string(retryKeys.maxRetryAfter)),
      rateLimitedAttempts: optional(Config.string(retryKeys.rateLimitedAttempts)),
      maxRateLimited: optional(Config.number(retryKeys.maxRateLimited))
    }),
    configKeys.retry
  ),
  attemptTimeout: optional(Config.string(configKeys.attemptTimeout)),
  totalTimeout: optional(Config.string(configKeys.totalTimeout))
}).pipe(Config.map((env) => ({
  ...env,
  retry: Object.fromEntries(Object.entries(env.retry).filter(([, value]) => value !== undefined))
})))

const timeout = (
  path: ReadonlyArray<string>,
  key: string,
  raw: string
): Either.Either<Duration.DurationInput | false, ConfigError.ConfigError> => {
  if (raw.trim().toLowerCase() === "off") return Either.right(false)
  const decoded = /^\s*-/.test(raw) ? Option.none() : Duration.decodeUnknown(raw)
  return Option.isSome(decoded) && Duration.toMillis(decoded.value) > 0
    ? Either.right(raw as Duration.DurationInput)
    : Either.left(
      ConfigError.InvalidData([...path, key], `expected a duration > 0 ("30 seconds") or off, got "${raw}"`)
    )
}

/** The policy options with one layer of variables over them; a refusal names the variable. */
const apply = (
  policy: PolicyOptions,
  path: ReadonlyArray<string>,
  env: EnvLayer
): Either.Either<PolicyOptions, ConfigError.ConfigError> =>
  Either.gen(function*() {
    let next: PolicyOptions = policy
    if (Object.keys(env.retry).length > 0) {
      const retry = { ...(policy.retry === false ? {} : policy.retry), ...env.retry } as Retry.Options
      yield* Either.mapLeft(Retry.policy(retry), (invalid) =>
        ConfigError.InvalidData(
          [...path, configKeys.retry, retryKeys[invalid.field as keyof typeof retryKeys] ?? invalid.field],
          invalid.message
        ))
      next = { ...next, retry }
    }
    if (env.attemptTimeout !== undefined) {
      next = { ...next, attemptTimeout: yield* timeout(path, configKeys.attemptTimeout, env.attemptTimeout) }
    }
    if (env.totalTimeout !== undefined) {
      next = { ...next, totalTimeout: yield* timeout(path, configKeys.totalTimeout, env.totalTimeout) }
    }
    return next
  })

const policyOptions = (own: ServiceOptions): PolicyOptions | undefined =>
  isPolicy(own.policy) ? undefined : { ...Policy.standardDefaults, ...own.policy }

const config = (options: ConfigOptions): Config.Config<Options> => {
  const names = [...new Set([...(options.names ?? []), ...Object.keys(options.byName ?? {})])]
  return Config.all({
    defaults: Config.nested(readEnv, "DEFAULT"),
    named: Config.all(names.map((service) => Config.nested(readEnv, CircuitBreakers.envName(service))))
  }).pipe(
    Config.mapOrFail(({ defaults, named }) =>
      Either.gen(function*() {
        const base = options.defaults ?? {}
        const basePolicy = policyOptions(base)
        const resolvedDefaults: ServiceOptions = basePolicy === undefined
          ? base
          : { ...base, policy: yield* apply(basePolicy, ["DEFAULT"], defaults) }
        const byName: Record<string, ServiceOptions> = {}
        for (let i = 0; i < names.length; i++) {
          const service = names[i]!
          const own = options.byName?.[service] ?? base
          const policy = policyOptions(own)
          if (policy === undefined) {
            byName[service] = own
            continue
          }
          const withDefaults = yield* apply(policy, ["DEFAULT"], defaults)
          byName[service] = {
            ...own,
            policy: yield* apply(withDefaults, [CircuitBreakers.envName(service)], named[i]!)
          }
        }
        return { defaults: resolvedDefaults, byName }
      })
    ),
    Config.nested(options.prefix ?? "HTTP")
  )
}

/**
 * {@link layer} with per-service settings from the environment. Every client
 * reads `<PREFIX>_DEFAULT_<KEY>`, and a named one (`names`, `byName`) also
 * `<PREFIX>_<NAME>_<KEY>` (`CircuitBreakers.envName`: `claude_api` →
 * `CLAUDE_API`), with the keys of {@link configKeys} and `RETRY_` + the keys of
 * `Retry.configKeys` (`HTTP_ORPHEUS_RETRY_MAX_ATTEMPTS=8`). Later wins:
 * `Policy.standardDefaults`, the options' policy, the `DEFAULT` variables, the
 * name's variables. A bad value fails with a `ConfigError` naming the
 * variable. A service whose policy is a built `Policy` reads no variables.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  options: ConfigOptions = {}
): Layer.Layer<ResilientClients, ConfigError.ConfigError | Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Layer.effect(ResilientClients, Effect.flatMap(config(options), make))
