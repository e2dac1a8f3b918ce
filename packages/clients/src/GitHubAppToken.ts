/**
 * GitHub App installation tokens (seed 001, layer 1): signs the app's JWT
 * with its RSA key (RS256, `iat` 60 s in the past, `exp` ten minutes after
 * it), exchanges it at `POST /app/installations/{id}/access_tokens`, and
 * caches the token until shortly before its `expires_at`. Many callers at
 * once cause one exchange: the first starts it, the others wait for it. From
 * the refresh moment on, the still-valid token keeps being handed out at once
 * while one exchange replaces it in the background; a failed refresh is tried
 * again `refreshRetryDelay` later at the earliest, and only a caller with no
 * valid token waits for an exchange.
 *
 * The exchange runs under its own policy with the seed's numbers (5 attempts,
 * 1 s to 30 s, 10 s per attempt; only transient failures are retried, and a
 * rate limit waits for its reset instead of spending attempts). A token is
 * harmless to mint twice, so the exchange is retried after ambiguous failures
 * (timeouts, 5xx) too. The key, the JWT and the token never reach a log line
 * or an error.
 *
 * @since 0.1.0
 */
import type * as Errors from "@bulwark/core/Errors"
import * as Policy from "@bulwark/core/Policy"
import type * as ResilientClient from "@bulwark/http/ResilientClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { InvalidInput, MalformedResponse } from "./ClientErrors.js"
import * as GitHubEndpoint from "./GitHubEndpoint.js"
import type * as GitHubSchema from "./GitHubSchema.js"
import * as config from "./internal/config.js"
import * as githubHttp from "./internal/githubHttp.js"
import * as Jwt from "./internal/githubJwt.js"
import * as TokenCache from "./internal/githubTokenCache.js"
import * as Options_ from "./internal/options.js"

/**
 * @since 0.1.0
 * @category Tags
 */
export class GitHubAppToken extends Context.Tag("@bulwark/clients/GitHubAppToken")<GitHubAppToken, Service>() {}

/**
 * What getting a token can fail with.
 *
 * @since 0.1.0
 * @category Models
 */
export type Failure =
  | ResilientClient.Failure<githubHttp.Classified>
  | MalformedResponse
  | InvalidInput

/**
 * A token from the cache, with the moments that matter.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Token {
  readonly token: Redacted.Redacted<string>
  /** GitHub's `expires_at`, epoch milliseconds. */
  readonly expiresAt: number
  /** When the cache starts minting the next in the background, epoch milliseconds of Effect's Clock. */
  readonly refreshAt: number
  /** The whole answer of the exchange. */
  readonly answer: GitHubSchema.InstallationToken
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly installationId: number
  /**
   * A valid token, at once while one is cached (even past its refresh moment,
   * while the next is minted in the background); one exchange for any number
   * of concurrent callers.
   */
  readonly get: Effect.Effect<Token, Failure>
  /** {@link get}, just the token. */
  readonly token: Effect.Effect<Redacted.Redacted<string>, Failure>
  /**
   * Drops `token` from the cache if it is still the cached one (GitHub
   * answered 401 with it), so the next {@link get} mints a new one.
   */
  readonly invalidate: (token: Redacted.Redacted<string>) => Effect.Effect<void>
  /** The exchange's policy, for its stats. */
  readonly policy: Policy.Policy
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** The app's numeric id, or its client id (`Iv…`): the JWT's `iss`. */
  readonly appId: string | number
  /** The app's RSA private key, PEM (PKCS#1 or PKCS#8; `\n` escapes are accepted). */
  readonly privateKey: Redacted.Redacted<string>
  readonly installationId: number
  /** Default `https://api.github.com` (GHES: `https://<host>/api/v3`). */
  readonly apiUrl?: string | undefined
  /** Restrict the tokens to these repositories or permissions. */
  readonly restrict?: GitHubSchema.InstallationTokenRequest | undefined
  /**
   * How long before `expires_at` a token is replaced. Default 5 minutes; a
   * token that lives less than twice this is replaced at half its life.
   */
  readonly refreshBefore?: Duration.DurationInput | undefined
  /**
   * After a background refresh failed (the old token still valid), how long
   * before the next one starts; never past the old token's expiry. Default 30 s.
   */
  readonly refreshRetryDelay?: Duration.DurationInput | undefined
  /** Default `bulwark`. */
  readonly userAgent?: string | undefined
  /** GitHub's "wait at least a minute" after a secondary limit without `retry-after`. Default 60 s. */
  readonly secondaryRateLimitWait?: Duration.DurationInput | undefined
  /** Layers replace the default's whole; `false` for no policy; or a policy already built. */
  readonly policy?: config.PolicyOptions | Policy.Policy | false | undefined
  /** Wraps the transport (a proxy, a recorder), below the policy. */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/**
 * The seed's numbers.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  service: "github-app-token",
  apiUrl: "https://api.github.com",
  userAgent: "bulwark",
  /** Octokit's auth-app also replaces tokens a few minutes before the hour. */
  refreshBefore: Duration.minutes(5),
  /** Ours: a failing token endpoint sees one refresh per 30 s, not one per call, while the old token lives. */
  refreshRetryDelay: Duration.seconds(30),
  /** GitHub's documentation: without retry-after, wait at least one minute. */
  secondaryRateLimitWait: Duration.minutes(1),
  policy: {
    ...Policy.standardDefaults,
    retry: {
      /** Seed 001, "GitHub Installation Token API": max retries 5, 1 s to 30 s exponential. */
      maxAttempts: 5,
      base: "1 second",
      maxDelay: "30 seconds",
      jitter: "full",
      /** A server's wait is a floor under the backoff. */
      retryAfter: "floor",
      /** A rate limit waits for its reset (bounded by the total timeout) instead of spending attempts. */
      rateLimitedAttempts: "free",
      maxRateLimited: 5,
      /** GitHub's primary window is one hour (its reset a little more away): the total timeout is the real bound. */
      maxRetryAfter: "2 hours"
    },
    /** Seed 001: "10 second request timeout". */
    attemptTimeout: "10 seconds",
    /** Outages only: a rate limit waits for its reset, it does not open the breaker. */
    circuitBreaker: Options_.outageBreaker
  } satisfies config.PolicyOptions
} as const

const invalid = Options_.invalid("github-app-token")

/**
 * Builds the provider over the `HttpClient` in context. The exchange runs in
 * a fiber of the scope, so a caller that is interrupted does not cancel it
 * for the others. An invalid option fails with `InvalidPolicy` naming it
 * (the key is never quoted).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (
  options: Options
): Effect.Effect<Service, Errors.InvalidPolicy, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const service = defaults.service
    const appId = String(options.appId)
    if (!/^(?:[1-9]\d*|Iv[\w.]+)$/.test(appId)) {
      return yield* invalid("appId", appId, "a numeric app id or a client id (Iv…)")
    }
    const installationId = options.installationId
    if (!Number.isInteger(installationId) || installationId < 1) {
      return yield* invalid("installationId", installationId, "a positive integer")
    }
    if (!Redacted.isRedacted(options.privateKey)) {
      return yield* invalid("privateKey", "<not Redacted>", "the PEM key as a Redacted")
    }
    const key = Jwt.privateKey(Redacted.value(options.privateKey))
    if (typeof key === "string") return yield* invalid("privateKey", "<redacted>", `an RSA private key: ${key}`)
    const refreshBefore = yield* Options_.finiteDuration(
      invalid,
      "refreshBefore",
      options.refreshBefore ?? defaults.refreshBefore
    )
    const refreshRetryDelay = yield* Options_.finiteDuration(
      invalid,
      "refreshRetryDelay",
      options.refreshRetryDelay ?? defaults.refreshRetryDelay
    )
    const { apiUrl, client, policy, userAgent } = yield* githubHttp.setup(
      invalid,
      service,
      defaults,
      options,
      "app-jwt"
    )
    const endpoint = GitHubEndpoint.createInstallationAccessToken
    const request = yield* githubHttp.build(
      endpoint,
      { params: { installation_id: installationId }, body: options.restrict ?? {} },
      apiUrl,
      service,
      userAgent
    ).pipe(Effect.mapError((error) => invalid("restrict", JSON.stringify(options.restrict), error.reason)))
    const refreshMillis = Duration.toMillis(refreshBefore)

    const exchange = Effect.gen(function*() {
      // Every attempt re-signs: a JWT minted before a long rate-limit wait would have expired.
      const signed = Effect.map(
        Clock.currentTimeMillis,
        (now) => HttpClientRequest.bearerToken(request, Jwt.sign(appId, key, now))
      )
      // Minting twice is harmless: the exchange is retried after an ambiguous failure too.
      const response = yield* Effect.flatMap(signed, (prepared) => client.execute(prepared, { idempotent: true }))
      const answer = yield* githubHttp.decodeResponse(endpoint, service, response)
      const now = yield* Clock.currentTimeMillis
      const expiresAt = DateTime.toEpochMillis(answer.expires_at)
      const margin = Math.min(refreshMillis, Math.max(0, (expiresAt - now) / 2))
      yield* Effect.annotateCurrentSpan({ "github.token.expires_at": DateTime.formatIso(answer.expires_at) })
      yield* Effect.logDebug("GitHub installation token minted").pipe(
        Effect.annotateLogs({ installation_id: installationId, expires_at: DateTime.formatIso(answer.expires_at) })
      )
      return { token: answer.token, expiresAt, refreshAt: expiresAt - margin, answer } satisfies Token
    }).pipe(
      Effect.withSpan("GitHubAppToken.exchange", { attributes: { "github.installation_id": installationId } })
    )

    const cache = yield* TokenCache.make(
      exchange,
      yield* Effect.scope,
      installationId,
      Duration.toMillis(refreshRetryDelay)
    )
    const get = cache.get.pipe(
      Effect.withSpan("GitHubAppToken.get", { attributes: { "github.installation_id": installationId } })
    )

    return {
      installationId,
      get,
      token: Effect.map(get, (token) => token.token),
      invalidate: cache.invalidate,
      policy
    } satisfies Service
  })

/**
 * The provider as a layer; the exchange's fiber lives as long as the layer.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Options
): Layer.Layer<GitHubAppToken, Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Layer.scoped(GitHubAppToken, make(options))

/**
 * The environment variables {@link layerConfig} reads: `GITHUB_APP_ID`,
 * `GITHUB_PRIVATE_KEY` (or, when it is not set, seed 001's
 * `GITHUB_APP_PRIVATE_KEY`), `GITHUB_INSTALLATION_ID`, `GITHUB_API_URL`, and
 * under `GITHUB_APP_TOKEN_` the refresh margin and the exchange's policy.
 *
 * @since 0.1.0
 * @category Config
 */
export const configKeys = {
  appId: "APP_ID",
  privateKey: "PRIVATE_KEY",
  /** Seed 001's name for the key, read when `PRIVATE_KEY` is not set. */
  privateKeySeed: "APP_PRIVATE_KEY",
  installationId: "INSTALLATION_ID",
  apiUrl: "API_URL",
  /** Under `GITHUB_APP_TOKEN_`, as the policy's keys. */
  refreshBefore: "REFRESH_BEFORE",
  ...config.policyKeys
} as const

/** The variables under `GITHUB_APP_TOKEN_` that can explain a refused option field (see `Options_.refusedByConfig`). */
const configFields: Readonly<Record<string, ReadonlyArray<string>>> = {
  ...Options_.policyVariables,
  refreshBefore: [configKeys.refreshBefore]
}

/**
 * The options from the environment (see {@link configKeys}); `overrides` fill
 * what is not set. A bad value is a `ConfigError` naming the variable; the
 * key is checked here (parsed as an RSA key) and never quoted.
 *
 * @since 0.1.0
 * @category Config
 */
export const optionsConfig = (overrides: Partial<Options> = {}): Config.Config<Options> => {
  const basePolicy = Options_.configBase(defaults.policy, overrides.policy)
  // Read as text and checked before it becomes a Redacted, so the error carries the variable's name, not the key.
  const keyAt = (name: string) =>
    Config.mapOrFail(Config.string(name), (pem) => {
      const parsed = Jwt.privateKey(pem)
      return typeof parsed === "string"
        ? Either.left(ConfigError.InvalidData([], `Expected an RSA private key in PEM: ${parsed}`))
        : Either.right(Redacted.make(pem))
    })
  // Only a missing variable falls back: a bad key under the first name is an error naming it, not a silent skip.
  const keyConfig = Config.orElseIf(keyAt(configKeys.privateKey), {
    if: ConfigError.isMissingDataOnly,
    orElse: () => keyAt(configKeys.privateKeySeed)
  })
  return Config.nested(
    Config.map(
      Config.all({
        appId: overrides.appId === undefined
          ? Config.mapOrFail(Config.string(configKeys.appId), (text) =>
            /^(?:[1-9]\d*|Iv[\w.]+)$/.test(text.trim())
              ? Either.right(text.trim())
              : Either.left(
                ConfigError.InvalidData([], `Expected a numeric app id or a client id (Iv…), got "${text}"`)
              ))
          : config.optional(Config.string(configKeys.appId)),
        privateKey: overrides.privateKey === undefined ? keyConfig : config.optional(keyConfig),
        installationId: overrides.installationId === undefined
          ? config.integer(configKeys.installationId, 1)
          : config.optional(config.integer(configKeys.installationId, 1)),
        apiUrl: config.optional(config.url(configKeys.apiUrl)),
        refreshBefore: config.optional(config.duration(configKeys.refreshBefore).pipe(Config.nested("APP_TOKEN"))),
        policy: basePolicy === undefined
          ? Config.succeed(undefined)
          : config.policy(basePolicy).pipe(Config.nested("APP_TOKEN"))
      }),
      (env): Options => {
        const set = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined))
        return { ...overrides, ...set } as Options
      }
    ),
    "GITHUB"
  )
}

/**
 * The provider from the environment (see {@link optionsConfig}).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  overrides: Partial<Options> = {}
): Layer.Layer<GitHubAppToken, ConfigError.ConfigError | Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Layer.scoped(
    GitHubAppToken,
    Effect.flatMap(
      optionsConfig(overrides),
      (read) => Effect.catchTag(make(read), "InvalidPolicy", Options_.refusedByConfig("GITHUB_APP_TOKEN", configFields))
    )
  )
