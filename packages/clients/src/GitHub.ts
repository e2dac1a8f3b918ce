/**
 * The GitHub REST client of an app installation (seed 001, layer 2): comment
 * on an issue, and `request` for any endpoint declared with
 * `GitHubEndpoint.make`. Authenticates with the installation token of
 * `GitHubAppToken`; a 401 drops that token and the call is made once more
 * with a fresh one (a 401 means GitHub did nothing).
 *
 * Resilience is @bulwark/http's `ResilientClient` with the seed's tool-level
 * numbers: 3 attempts, 1 s to 30 s. Only transient failures are retried
 * (429, 5xx, timeouts, resets); 400, 401, 403, 404, 410 and 422 are not.
 * GitHub's rate limits:
 *
 * - primary (`x-ratelimit-remaining: 0`): wait until `x-ratelimit-reset`,
 *   without spending an attempt, unless that ends past the total timeout, in
 *   which case the call gives up at once, naming the wait;
 * - secondary ("secondary rate limit"): wait `retry-after`, or at least a
 *   minute when it is absent, as GitHub asks.
 *
 * A comment is a POST GitHub cannot deduplicate: after an ambiguous failure
 * (a timeout, a dropped connection, a 5xx other than 503) it may already
 * exist, so by default it is not retried then (only after failures that say
 * nothing was done: 429, 503, secondary limits, a refused connection). Pass
 * an `idempotencyKey` to accept the risk of a duplicate and retry anyway.
 *
 * @since 0.1.0
 */
import type * as Errors from "@bulwark/core/Errors"
import * as Policy from "@bulwark/core/Policy"
import type * as ResilientClient from "@bulwark/http/ResilientClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type { InvalidInput, MalformedResponse } from "./ClientErrors.js"
import * as GitHubAppToken from "./GitHubAppToken.js"
import * as GitHubEndpoint from "./GitHubEndpoint.js"
import type * as GitHubSchema from "./GitHubSchema.js"
import * as config from "./internal/config.js"
import * as githubHttp from "./internal/githubHttp.js"
import * as Options_ from "./internal/options.js"
import * as Spans from "./internal/spans.js"

/**
 * @since 0.1.0
 * @category Tags
 */
export class GitHub extends Context.Tag("@bulwark/clients/GitHub")<GitHub, Service>() {}

/**
 * What a call can fail with: the failures of `ResilientClient` (with
 * `RateLimited` and `AuthenticationFailed` from GitHub's answers), a body
 * that is not what the endpoint promises, a request refused before sending,
 * and the failures of getting a token.
 *
 * @since 0.1.0
 * @category Models
 */
export type Failure =
  | ResilientClient.Failure<githubHttp.Classified>
  | MalformedResponse
  | InvalidInput
  | GitHubAppToken.Failure

/**
 * Options of one call.
 *
 * @since 0.1.0
 * @category Options
 */
export interface CallOptions {
  /**
   * Makes a POST or PATCH retried after an ambiguous failure too. GitHub
   * ignores the `Idempotency-Key` header, so a retried comment may appear
   * twice: pass a key only when a duplicate is better than a missing comment.
   */
  readonly idempotencyKey?: string | undefined
  /** The timeout of each attempt, instead of the policy's. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Sent as `x-request-id`; default 32 random hex digits. */
  readonly requestId?: string | undefined
  /** Span attributes, to find a call of a job in a trace. */
  readonly task?: string | undefined
  readonly clientJobId?: string | undefined
}

/**
 * The arguments of {@link Service.createComment}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface CommentInput extends GitHubSchema.IssueParams {
  readonly body: string
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly apiUrl: string
  /** Any endpoint: parameters and body checked against its Schemas, the answer decoded with its Schema. */
  readonly request: <P, B, A>(
    endpoint: GitHubEndpoint.Endpoint<P, B, A>,
    input: GitHubEndpoint.Input<P, B>,
    options?: CallOptions
  ) => Effect.Effect<A, Failure>
  /** `POST /repos/{owner}/{repo}/issues/{issue_number}/comments` (the seed's `comment_on_issue`). */
  readonly createComment: (
    input: CommentInput,
    options?: CallOptions
  ) => Effect.Effect<GitHubSchema.IssueComment, Failure>
  /** The policy shared by every call, for its stats. */
  readonly policy: Policy.Policy
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Names the service in errors, logs, spans and metrics. Default `"github"`. */
  readonly service?: string | undefined
  /** Default `https://api.github.com` (GHES: `https://<host>/api/v3`). */
  readonly apiUrl?: string | undefined
  /** Default `bulwark`: GitHub refuses requests without a `User-Agent`. */
  readonly userAgent?: string | undefined
  /** GitHub's "wait at least a minute" after a secondary limit without `retry-after`. Default 60 s. */
  readonly secondaryRateLimitWait?: Duration.DurationInput | undefined
  /**
   * Merged into {@link defaults}`.policy` field by field (`false` removes a
   * layer); `false` for no policy; or a policy already built.
   */
  readonly policy?: config.PolicyOptions | Policy.Policy | false | undefined
  /** Wraps the transport (a proxy, a recorder), below the policy. */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/**
 * The seed's tool-level numbers.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  service: "github",
  apiUrl: "https://api.github.com",
  userAgent: "bulwark",
  /** GitHub's documentation: without retry-after, wait at least one minute. */
  secondaryRateLimitWait: Duration.minutes(1),
  policy: {
    ...Policy.standardDefaults,
    retry: {
      /** Seed 001, "Tool Level": max retries 3 ("[Attempt 1/3]"), 1 s to 30 s exponential. */
      maxAttempts: 3,
      base: "1 second",
      maxDelay: "30 seconds",
      jitter: "full",
      retryAfter: "floor",
      /** A rate limit waits for its reset (bounded by the total timeout) instead of spending attempts. */
      rateLimitedAttempts: "free",
      maxRateLimited: 5,
      /** GitHub's primary window is one hour (its reset a little more away): the total timeout is the real bound. */
      maxRetryAfter: "2 hours"
    },
    /** Outages only: a rate limit waits for its reset, it does not open the breaker. */
    circuitBreaker: Options_.outageBreaker
  } satisfies config.PolicyOptions
} as const

const invalid = Options_.invalid("github")

// Only GitHub refusing the installation token: a refused app JWT (the exchange's own 401) would fail again.
const isUnauthorized = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "AuthenticationFailed" &&
  (error as { credential?: unknown }).credential === "installation-token"

/**
 * Builds the client over the `HttpClient` and the `GitHubAppToken` in
 * context. An invalid option fails with `InvalidPolicy` naming it.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Service, Errors.InvalidPolicy, HttpClient.HttpClient | GitHubAppToken.GitHubAppToken> =>
  Effect.gen(function*() {
    const service = options.service ?? defaults.service
    if (typeof service !== "string" || service === "") return yield* invalid("service", service, "a non-empty string")
    const { apiUrl, client, policy, userAgent } = yield* githubHttp.setup(
      invalid,
      service,
      defaults,
      options,
      "installation-token"
    )
    const tokens = yield* GitHubAppToken.GitHubAppToken

    const request = <P, B, A>(
      endpoint: GitHubEndpoint.Endpoint<P, B, A>,
      input: GitHubEndpoint.Input<P, B>,
      call: CallOptions = {}
    ): Effect.Effect<A, Failure> =>
      Effect.gen(function*() {
        yield* Effect.annotateCurrentSpan({ "github.endpoint": endpoint.name })
        const http = yield* githubHttp.build(endpoint, input, apiUrl, service, userAgent)
        const executeOptions: ResilientClient.RequestOptions = {
          ...(call.idempotencyKey === undefined ? {} : { idempotencyKey: call.idempotencyKey }),
          ...(call.requestId === undefined ? {} : { requestId: call.requestId }),
          ...(call.timeout === undefined ? {} : { timeout: call.timeout })
        }
        const once = Effect.gen(function*() {
          const token = yield* tokens.token
          const response = yield* client.execute(
            HttpClientRequest.bearerToken(http, Redacted.value(token)),
            executeOptions
          ).pipe(Effect.tapError((error) => isUnauthorized(error) ? tokens.invalidate(token) : Effect.void))
          return yield* githubHttp.decodeResponse(endpoint, service, response)
        })
        // A 401 means GitHub did nothing: one more try, with the fresh token the invalidation forces.
        return yield* Effect.catchIf(once, isUnauthorized, () =>
          once.pipe(
            Effect.zipLeft(Effect.logWarning(`${service}: GitHub refused the installation token; minted a new one`))
          ))
      }).pipe(
        // Around the whole call: the retry warnings carry the job id too.
        Spans.annotate({ service, operation: endpoint.name, task: call.task, clientJobId: call.clientJobId }),
        Effect.withSpan(`GitHub.${endpoint.name}`, {
          kind: "client",
          attributes: { "http.request.method": endpoint.method, "github.path": endpoint.path }
        }),
        Effect.annotateLogs({ service, endpoint: endpoint.name })
      )

    const createComment = (input: CommentInput, call: CallOptions = {}) =>
      request(
        GitHubEndpoint.createComment,
        {
          params: { owner: input.owner, repo: input.repo, issue_number: input.issue_number },
          body: { body: input.body }
        },
        call
      ).pipe(
        Effect.withSpan("GitHub.createComment", {
          attributes: { "github.owner": input.owner, "github.repo": input.repo, "github.issue": input.issue_number }
        })
      )

    return { apiUrl, request, createComment, policy } satisfies Service
  })

/**
 * The client as a layer, over a `GitHubAppToken` layer.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<GitHub, Errors.InvalidPolicy, HttpClient.HttpClient | GitHubAppToken.GitHubAppToken> =>
  Layer.effect(GitHub, make(options))

/**
 * The environment variables {@link layerConfig} reads, under `GITHUB_`
 * (the token provider's are in `GitHubAppToken.configKeys`).
 *
 * @since 0.1.0
 * @category Config
 */
export const configKeys = {
  apiUrl: "API_URL",
  userAgent: "USER_AGENT",
  ...config.policyKeys
} as const

/** The variables that can explain a refused option field (see `Options_.refusedByConfig`). */
const configFields: Readonly<Record<string, ReadonlyArray<string>>> = {
  ...Options_.policyVariables,
  apiUrl: [configKeys.apiUrl],
  userAgent: [configKeys.userAgent]
}

/**
 * The options from the environment: `GITHUB_API_URL`, `GITHUB_USER_AGENT`
 * and the policy's `GITHUB_RETRY_MAX_ATTEMPTS`, `GITHUB_RETRY_BASE_DELAY`,
 * `GITHUB_RETRY_MAX_DELAY`, `GITHUB_TIMEOUT`, `GITHUB_TOTAL_TIMEOUT`,
 * `GITHUB_BREAKER_FAILURE_THRESHOLD`, `GITHUB_BREAKER_OPEN_DURATION`. A
 * variable that is set wins over `overrides`, which win over {@link defaults}.
 *
 * @since 0.1.0
 * @category Config
 */
export const optionsConfig = (overrides: Options = {}): Config.Config<Options> => {
  const basePolicy = Options_.configBase(defaults.policy, overrides.policy)
  return Config.nested(
    Config.map(
      Config.all({
        apiUrl: config.optional(config.url(configKeys.apiUrl)),
        userAgent: config.optional(
          Config.mapOrFail(Config.string(configKeys.userAgent), (text) =>
            text.trim() === "" || /[\r\n]/.test(text)
              ? Either.left(
                ConfigError.InvalidData([], `Expected a User-Agent on one line, got ${JSON.stringify(text)}`)
              )
              : Either.right(text.trim()))
        ),
        policy: basePolicy === undefined ? Config.succeed(undefined) : config.policy(basePolicy)
      }),
      (env): Options => {
        const set = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined))
        return { ...overrides, ...set }
      }
    ),
    "GITHUB"
  )
}

/**
 * The client and its token provider from the environment: `GitHubAppToken`'s
 * variables (`GITHUB_APP_ID`, `GITHUB_PRIVATE_KEY` or seed 001's
 * `GITHUB_APP_PRIVATE_KEY`, `GITHUB_INSTALLATION_ID`, …) and
 * {@link optionsConfig}'s.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  overrides: Options = {},
  tokenOverrides: Partial<GitHubAppToken.Options> = {}
): Layer.Layer<
  GitHub | GitHubAppToken.GitHubAppToken,
  ConfigError.ConfigError | Errors.InvalidPolicy,
  HttpClient.HttpClient
> =>
  Layer.effect(
    GitHub,
    Effect.flatMap(
      optionsConfig(overrides),
      (read) => Effect.catchTag(make(read), "InvalidPolicy", Options_.refusedByConfig("GITHUB", configFields))
    )
  ).pipe(
    Layer.provideMerge(GitHubAppToken.layerConfig(tokenOverrides))
  )
