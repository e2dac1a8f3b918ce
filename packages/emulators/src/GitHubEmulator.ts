/**
 * A loopback GitHub REST API for a GitHub App: the installation-token
 * endpoint (RS256 app JWT checked against a configured public key), issue
 * comments with the installation token, GitHub's error bodies, the primary
 * hourly limit (`x-ratelimit-*`, 403 or 429 at zero) and the secondary limits
 * (content creation per window, concurrent requests) with `retry-after`.
 *
 * @since 0.1.0
 */
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { KeyObject } from "node:crypto"
import * as Emulator from "./Emulator.js"
import * as EmulatorStats from "./EmulatorStats.js"
import type * as Faults from "./Faults.js"
import * as Jwt from "./internal/githubJwt.js"
import type * as RateLimit from "./internal/githubRateLimit.js"
import * as Routes from "./internal/githubRoutes.js"
import * as Checks from "./internal/options.js"

/**
 * A permission level GitHub grants an app.
 *
 * @since 0.1.0
 * @category Models
 */
export type Permission = "read" | "write" | "admin"

/**
 * One installation of the app.
 *
 * @since 0.1.0
 * @category Options
 */
export interface Installation {
  readonly id: number
  /** The account's login; when set, its tokens reach only that owner's repositories. */
  readonly account?: string | undefined
  /** Default `{ issues: "write", contents: "read", metadata: "read" }`. */
  readonly permissions?: Readonly<Record<string, Permission>> | undefined
  /** Repository names the installation may reach, or `"all"` (default). */
  readonly repositories?: ReadonlyArray<string> | "all" | undefined
}

/**
 * A repository that exists. Without the `repos` option every repository exists.
 *
 * @since 0.1.0
 * @category Options
 */
export interface Repo {
  readonly owner: string
  readonly name: string
  /** Issues 1..n exist (default: any number). */
  readonly issues?: number | undefined
  /** `false`: comments answer 410 Gone, as for a repository with issues disabled. */
  readonly hasIssues?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options extends Emulator.CommonOptions {
  /** The app's numeric id, accepted as the JWT's `iss`. Default 1. */
  readonly appId?: number | undefined
  /** The app's client id, also accepted as `iss`. */
  readonly clientId?: string | undefined
  /** The app's slug: the comment author is `<slug>[bot]`. Default "bulwark-emulator". */
  readonly appSlug?: string | undefined
  /** PEM of the app's RSA public key (a private key works too). Without it no JWT verifies. */
  readonly publicKey?: string | undefined
  /** Drift tolerated on `iat` and `exp`. Default 30 seconds. */
  readonly clockSkew?: Duration.DurationInput | undefined
  /** Default one installation, id 1, all repositories. */
  readonly installations?: ReadonlyArray<Installation> | undefined
  /** The repositories that exist; default: every one. */
  readonly repos?: ReadonlyArray<Repo> | undefined
  /** How long an installation token lives. Default one hour. */
  readonly tokenLifetime?: Duration.DurationInput | undefined
  /** Service time of every request, a `Faults.parseDistribution` text. Default none. */
  readonly serviceTime?: string | undefined
  /** GitHub refuses requests without `User-Agent` (403). Default true. */
  readonly requireUserAgent?: boolean | undefined
  readonly primary?: {
    /** Requests per window and credential. Default 5000. */
    readonly limit?: number | undefined
    /** Default one hour. */
    readonly window?: Duration.DurationInput | undefined
    /** The status of an exhausted limit. Default 403. */
    readonly status?: 403 | 429 | undefined
  } | undefined
  readonly secondary?: {
    /** Comments allowed per window. Default 80 per minute and 500 per hour. */
    readonly content?: ReadonlyArray<{ readonly limit: number; readonly window: Duration.DurationInput }> | undefined
    /** Concurrent requests allowed. Default 100. */
    readonly concurrency?: number | undefined
    /** Default 403. */
    readonly status?: 403 | 429 | undefined
    /** Whether the answer carries `retry-after`. Default true. */
    readonly retryAfter?: boolean | undefined
  } | undefined
}

/**
 * A comment the emulator stored.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Comment {
  readonly id: number
  readonly owner: string
  readonly repo: string
  readonly issue: number
  readonly body: string
  readonly installationId: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service extends Emulator.Emulator {
  /** Every comment created, in order. */
  readonly comments: Effect.Effect<ReadonlyArray<Comment>>
}

/**
 * @since 0.1.0
 * @category Tags
 */
export class GitHubEmulator extends Context.Tag("@bulwark/emulators/GitHubEmulator")<GitHubEmulator, Service>() {}

const service = "github"

/**
 * The defaults of {@link Options}.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  appId: 1,
  appSlug: "bulwark-emulator",
  clockSkew: Duration.seconds(30),
  tokenLifetime: Duration.hours(1),
  primaryLimit: 5000,
  primaryWindow: Duration.hours(1),
  content: [
    { limit: 80, window: Duration.minutes(1) },
    { limit: 500, window: Duration.hours(1) }
  ],
  concurrency: 100,
  permissions: { issues: "write", contents: "read", metadata: "read" } as Readonly<Record<string, Permission>>
} as const

const check = Checks.forService(service)

/** Options checked and resolved; every default filled in. */
const settle = (options: Options): Either.Either<Routes.Settings, Emulator.InvalidEmulatorOption> =>
  Either.gen(function*() {
    const appId = yield* check.whole("appId", options.appId, defaults.appId, 1)
    let publicKey: KeyObject | undefined
    if (options.publicKey !== undefined) {
      const key = Jwt.publicKey(options.publicKey)
      if (typeof key === "string") return yield* check.refuse("publicKey", key)
      publicKey = key
    }
    const skewMillis = yield* check.millis("clockSkew", options.clockSkew, defaults.clockSkew, { atLeast: 0 })
    const tokenLifetimeMillis = yield* check.millis("tokenLifetime", options.tokenLifetime, defaults.tokenLifetime, {
      atLeast: 1
    })
    const installations = options.installations ?? [{ id: 1 }]
    const seen = new Set<number>()
    for (const installation of installations) {
      if (!Checks.isWhole(installation.id, 1) || seen.has(installation.id)) {
        return yield* check.refuse("installations", `id ${installation.id} is not a distinct positive integer`)
      }
      seen.add(installation.id)
      for (const [name, level] of Object.entries(installation.permissions ?? {})) {
        if (level !== "read" && level !== "write" && level !== "admin") {
          return yield* check.refuse("installations", `permission ${name} is ${String(level)}`)
        }
      }
    }
    for (const repo of options.repos ?? []) {
      if (repo.owner === "" || repo.name === "" || (repo.issues !== undefined && !Checks.isWhole(repo.issues, 1))) {
        return yield* check.refuse("repos", `${repo.owner}/${repo.name} needs an owner, a name, issues ≥ 1`)
      }
    }
    const primaryLimit = yield* check.whole("primary.limit", options.primary?.limit, defaults.primaryLimit, 1)
    const primaryWindowMillis = yield* check.millis("primary.window", options.primary?.window, defaults.primaryWindow, {
      atLeast: 1
    })
    const content: Array<RateLimit.ContentRule> = []
    for (const rule of options.secondary?.content ?? defaults.content) {
      content.push({
        limit: yield* check.whole("secondary.content", rule.limit, 0, 1),
        windowMillis: yield* check.millis("secondary.content", rule.window, Duration.zero, { atLeast: 1 })
      })
    }
    const concurrency = yield* check.whole(
      "secondary.concurrency",
      options.secondary?.concurrency,
      defaults.concurrency,
      1
    )
    for (
      const [option, status] of [["primary.status", options.primary?.status], [
        "secondary.status",
        options.secondary?.status
      ]] as const
    ) {
      if (status !== undefined && status !== 403 && status !== 429) {
        return yield* check.refuse(option, `${status} is neither 403 nor 429`)
      }
    }
    const serviceTime = options.serviceTime === undefined
      ? undefined
      : yield* check.distribution("serviceTime", options.serviceTime, "0ms")
    const { seed } = yield* check.common(options)
    return {
      appId,
      clientId: options.clientId,
      appSlug: options.appSlug ?? defaults.appSlug,
      publicKey,
      skewSeconds: Math.floor(skewMillis / 1000),
      tokenLifetimeMillis,
      installations: installations.map((installation) => ({
        id: installation.id,
        account: installation.account,
        permissions: installation.permissions ?? defaults.permissions,
        repositories: installation.repositories ?? "all"
      })),
      repos: options.repos,
      serviceTime,
      requireUserAgent: options.requireUserAgent ?? true,
      primary: { limit: primaryLimit, windowMillis: primaryWindowMillis, status: options.primary?.status ?? 403 },
      secondary: {
        content,
        concurrency,
        status: options.secondary?.status ?? 403,
        retryAfter: options.secondary?.retryAfter ?? true
      },
      seed
    }
  })

/**
 * Starts the emulator on 127.0.0.1 for the life of the scope.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  Service,
  Faults.InvalidFaultSpec | Emulator.InvalidEmulatorOption | HttpServerError.ServeError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const settings = yield* settle(options)
    const stats = yield* EmulatorStats.make({ service, capacity: settings.secondary.concurrency })
    const routes = yield* Routes.make(settings, stats)
    const emulator = yield* Emulator.serve(routes.router, { ...options, stats, failure: routes.failure })
    return { ...emulator, comments: routes.comments }
  }).pipe(Effect.withSpan("GitHubEmulator.make"))

/**
 * The emulator as a layer: it serves while the layer lives.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  GitHubEmulator,
  Faults.InvalidFaultSpec | Emulator.InvalidEmulatorOption | HttpServerError.ServeError
> => Layer.scoped(GitHubEmulator, make(options))
