/**
 * The GitHub emulator's routes and state: tokens, comments, rate-limit
 * windows. Mutable state is updated inside `Effect.sync` (one fiber step at a
 * time, so no update is lost); every decision about time goes through the pure
 * machines of `githubRateLimit` and `githubJwt` with "now" from Effect's Clock.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { KeyObject } from "node:crypto"
import type * as EmulatorStats from "../EmulatorStats.js"
import * as Faults from "../Faults.js"
import type { Comment, Permission, Repo } from "../GitHubEmulator.js"
import * as Jwt from "./githubJwt.js"
import * as RateLimit from "./githubRateLimit.js"
import * as Reply from "./githubResponses.js"
import * as Seeded from "./seeded.js"

/** The emulator's options, checked, with every default filled in. */
export interface Settings {
  readonly appId: number
  readonly clientId: string | undefined
  readonly appSlug: string
  readonly publicKey: KeyObject | undefined
  readonly skewSeconds: number
  readonly tokenLifetimeMillis: number
  readonly installations: ReadonlyArray<{
    readonly id: number
    readonly account: string | undefined
    readonly permissions: Readonly<Record<string, Permission>>
    readonly repositories: ReadonlyArray<string> | "all"
  }>
  readonly repos: ReadonlyArray<Repo> | undefined
  readonly serviceTime: Faults.Distribution | undefined
  readonly requireUserAgent: boolean
  readonly primary: { readonly limit: number; readonly windowMillis: number; readonly status: 403 | 429 }
  readonly secondary: {
    readonly content: ReadonlyArray<RateLimit.ContentRule>
    readonly concurrency: number
    readonly status: 403 | 429
    readonly retryAfter: boolean
  }
  readonly seed: number
}

interface Token {
  readonly installationId: number
  readonly expiresAtMillis: number
  readonly permissions: Readonly<Record<string, Permission>>
  /** Lower-case repository names, or every repository of the installation. */
  readonly repositories: ReadonlyArray<string> | "all"
}

const levels: Record<Permission, number> = { read: 1, write: 2, admin: 3 }

const TokenRequest = Schema.Struct({
  repositories: Schema.optional(Schema.Array(Schema.String)),
  repository_ids: Schema.optional(Schema.Array(Schema.Int)),
  permissions: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Literal("read", "write", "admin") }))
})

const CommentRequest = Schema.Struct({ body: Schema.String })

const scheme = /^(bearer|token)\s+(\S+)\s*$/i

/** Reads a JSON object body: `undefined` for an empty body, `Left` when it is not JSON at all. */
const readJson = (text: string): Either.Either<unknown, "malformed"> => {
  if (text.trim() === "") return Either.right(undefined)
  try {
    return Either.right(JSON.parse(text))
  } catch {
    return Either.left("malformed")
  }
}

/** The state and routes of one emulator. */
export const make = (settings: Settings, stats: EmulatorStats.EmulatorStats) =>
  Effect.sync(() => {
    const uniform = Seeded.generator(settings.seed)
    const tokens = new Map<string, Token>()
    const windows = new Map<string, RateLimit.PrimaryWindow>()
    const comments: Array<Comment> = []
    let contentTimes: ReadonlyArray<number> = []
    let inFlight = 0
    const commentIdBase = 1_000_000_000 + Math.floor(Seeded.generator(Seeded.hash(`${settings.seed}:comments`))() * 1e8)

    const nextRequestId = Effect.sync(() => Reply.requestId(uniform))

    /** Counts one request of `credential` against its primary window. */
    const takePrimary = (credential: string, limit: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          const verdict = RateLimit.take(windows.get(credential), now, limit, settings.primary.windowMillis)
          windows.set(credential, verdict.window)
          return verdict
        }))

    const secondaryRefusal = (context: Reply.Context, waitMillis: number) =>
      Reply.json(settings.secondary.status, {
        message: Reply.secondaryMessage(context.requestId),
        documentation_url: Reply.docs.secondary,
        status: String(settings.secondary.status)
      }, {
        ...context,
        headers: settings.secondary.retryAfter
          ? { "retry-after": String(Math.max(1, Math.ceil(waitMillis / 1000))) }
          : {}
      })

    const serviceTime = settings.serviceTime === undefined ?
      Effect.void :
      Effect.suspend(() => Effect.sleep(Duration.millis(Faults.sample(settings.serviceTime!, uniform))))

    /**
     * What every route shares: a request id, the User-Agent rule, the
     * concurrency limit, the service time, and a span.
     */
    const route = (
      name: string,
      handle: (request: HttpServerRequest.HttpServerRequest, requestId: string) => Effect.Effect<
        HttpServerResponse.HttpServerResponse,
        never,
        HttpRouter.RouteContext
      >
    ) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const requestId = yield* nextRequestId
        if (settings.requireUserAgent && (request.headers["user-agent"] ?? "") === "") {
          return Reply.basicError(
            403,
            { requestId },
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header " +
              "(https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required)."
          )
        }
        return yield* Effect.acquireUseRelease(
          Effect.sync(() => ++inFlight),
          (concurrent) =>
            concurrent > settings.secondary.concurrency
              ? Effect.succeed(secondaryRefusal({ requestId }, 60_000))
              : stats.busy(Effect.zipRight(serviceTime, handle(request, requestId))),
          () => Effect.sync(() => inFlight--)
        )
      }).pipe(
        Effect.tap((response) => Effect.annotateCurrentSpan("http.status", response.status)),
        Effect.withSpan(`GitHubEmulator.${name}`)
      )

    const pathNumber = (value: string | undefined) =>
      value !== undefined && /^\d{1,15}$/.test(value) ? Number(value) : undefined

    const createToken = route("createInstallationAccessToken", (request, requestId) =>
      Effect.gen(function*() {
        const params = yield* HttpRouter.params
        const now = yield* Clock.currentTimeMillis
        const match = scheme.exec(request.headers.authorization ?? "")
        const anonymous = yield* takePrimary("anonymous", 60)
        if (match === null) {
          return Reply.basicError(401, { requestId, rate: anonymous.headers }, "Requires authentication")
        }
        const verdict = settings.publicKey === undefined
          ? { _tag: "Refusal" as const, message: Jwt.messages.undecodable }
          : Jwt.verify(match[2]!, Math.floor(now / 1000), {
            publicKey: settings.publicKey,
            appId: settings.appId,
            clientId: settings.clientId,
            skewSeconds: settings.skewSeconds
          })
        if ("_tag" in verdict) {
          yield* Effect.annotateCurrentSpan("github.jwt", verdict.message)
          return Reply.basicError(401, { requestId, rate: anonymous.headers }, verdict.message)
        }
        const primary = yield* takePrimary(`app:${settings.appId}`, settings.primary.limit)
        const context: Reply.Context = { requestId, rate: primary.headers }
        if (!primary.allowed) {
          return Reply.basicError(
            settings.primary.status,
            context,
            Reply.primaryMessage(`app ID ${settings.appId}`),
            Reply.docs.primary
          )
        }
        const id = pathNumber(params.installation_id)
        const installation = settings.installations.find((candidate) => candidate.id === id)
        if (installation === undefined) return Reply.basicError(404, context, "Not Found", Reply.docs.accessToken)
        const json = readJson(yield* Effect.orElseSucceed(request.text, () => ""))
        if (Either.isLeft(json)) return Reply.basicError(400, context, "Problems parsing JSON", Reply.docs.accessToken)
        const body = Schema.decodeUnknownEither(TokenRequest)(json.right ?? {})
        if (Either.isLeft(body)) {
          return Reply.validationError(context, [{ resource: "Installation", code: "invalid" }], Reply.docs.accessToken)
        }
        const wanted = body.right.permissions ?? installation.permissions
        for (const [name, level] of Object.entries(wanted)) {
          const granted = installation.permissions[name]
          if (granted === undefined || levels[level] > levels[granted]) {
            return Reply.basicError(
              422,
              context,
              "The permissions requested are not granted to this installation.",
              Reply.docs.accessToken
            )
          }
        }
        const names = body.right.repositories?.map((name) => name.toLowerCase())
        const reachable = (name: string) =>
          (installation.repositories === "all" ||
            installation.repositories.some((candidate) => candidate.toLowerCase() === name)) &&
          (settings.repos === undefined ||
            settings.repos.some((repo) =>
              repo.name.toLowerCase() === name &&
              (installation.account === undefined || repo.owner.toLowerCase() === installation.account.toLowerCase())
            ))
        if (names !== undefined && !names.every(reachable)) {
          return Reply.basicError(
            422,
            context,
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
            Reply.docs.accessToken
          )
        }
        const repositories = names ??
          (installation.repositories === "all"
            ? "all"
            : installation.repositories.map((name) => name.toLowerCase()))
        const token = Reply.installationToken(uniform)
        const expiresAtMillis = now + settings.tokenLifetimeMillis
        yield* Effect.sync(() =>
          tokens.set(token, { installationId: installation.id, expiresAtMillis, permissions: wanted, repositories })
        )
        const owner = installation.account ?? "octo-org"
        return Reply.json(201, {
          token,
          expires_at: Reply.isoSeconds(expiresAtMillis),
          permissions: wanted,
          repository_selection: repositories === "all" ? "all" : "selected",
          ...(repositories === "all" ? {} : {
            repositories: repositories.map((name) => ({
              id: Seeded.hash(`${owner}/${name}`),
              name,
              full_name: `${owner}/${name}`,
              private: false,
              owner: { login: owner }
            }))
          })
        }, context)
      }))

    const createComment = route("createComment", (request, requestId) =>
      Effect.gen(function*() {
        const params = yield* HttpRouter.params
        const now = yield* Clock.currentTimeMillis
        const match = scheme.exec(request.headers.authorization ?? "")
        const token = match === null ? undefined : tokens.get(match[2]!)
        if (token === undefined || token.expiresAtMillis <= now) {
          const anonymous = yield* takePrimary("anonymous", 60)
          return Reply.basicError(401, { requestId, rate: anonymous.headers }, "Bad credentials")
        }
        const primary = yield* takePrimary(`installation:${token.installationId}`, settings.primary.limit)
        const context: Reply.Context = { requestId, rate: primary.headers }
        if (!primary.allowed) {
          return Reply.basicError(
            settings.primary.status,
            context,
            Reply.primaryMessage(`installation ID ${token.installationId}`),
            Reply.docs.primary
          )
        }
        const owner = params.owner ?? ""
        const name = params.repo ?? ""
        const issue = pathNumber(params.issue_number)
        const installation = settings.installations.find((candidate) => candidate.id === token.installationId)
        const repo = settings.repos?.find((candidate) =>
          candidate.owner.toLowerCase() === owner.toLowerCase() && candidate.name.toLowerCase() === name.toLowerCase()
        )
        const visible = (settings.repos === undefined || repo !== undefined) &&
          (installation?.account === undefined || installation.account.toLowerCase() === owner.toLowerCase()) &&
          (token.repositories === "all" || token.repositories.includes(name.toLowerCase()))
        if (!visible || issue === undefined || issue < 1 || (repo?.issues !== undefined && issue > repo.issues)) {
          return Reply.basicError(404, context, "Not Found", Reply.docs.comment)
        }
        if (repo?.hasIssues === false) return Reply.basicError(410, context, "Issues are disabled for this repo")
        const level = token.permissions.issues
        if (level === undefined || levels[level] < levels.write) {
          return Reply.basicError(403, context, "Resource not accessible by integration", Reply.docs.comment)
        }
        const json = readJson(yield* Effect.orElseSucceed(request.text, () => ""))
        if (Either.isLeft(json)) return Reply.basicError(400, context, "Problems parsing JSON", Reply.docs.comment)
        const body = Schema.decodeUnknownEither(CommentRequest)(json.right ?? {})
        if (Either.isLeft(body) || body.right.body === "") {
          const given = typeof json.right === "object" && json.right !== null && "body" in json.right &&
            (json.right as { body: unknown }).body !== ""
          return Reply.validationError(context, [{
            resource: "IssueComment",
            code: given ? "invalid" : "missing_field",
            field: "body"
          }], Reply.docs.comment)
        }
        const content = RateLimit.takeContent(contentTimes, now, settings.secondary.content)
        contentTimes = content.times
        if (!content.allowed) return secondaryRefusal(context, content.waitMillis)
        const id = commentIdBase + comments.length
        comments.push({ id, owner, repo: name, issue, body: body.right.body, installationId: token.installationId })
        const api = `http://${request.headers.host ?? "127.0.0.1"}`
        const url = `${api}/repos/${owner}/${name}/issues/comments/${id}`
        const at = Reply.isoSeconds(now)
        const bot = {
          login: `${settings.appSlug}[bot]`,
          id: settings.appId + 41_000_000,
          type: "Bot",
          site_admin: false
        }
        return Reply.json(201, {
          id,
          node_id: `IC_kwDO${Buffer.from(String(id)).toString("base64url")}`,
          url,
          html_url: `https://github.com/${owner}/${name}/issues/${issue}#issuecomment-${id}`,
          issue_url: `${api}/repos/${owner}/${name}/issues/${issue}`,
          body: body.right.body,
          user: bot,
          created_at: at,
          updated_at: at,
          author_association: "NONE",
          performed_via_github_app: { id: settings.appId, slug: settings.appSlug, name: settings.appSlug },
          reactions: { url: `${url}/reactions`, total_count: 0 },
          pin: null
        }, { ...context, headers: { location: url } })
      }))

    const rateLimit = route("rateLimit", (request, requestId) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const match = scheme.exec(request.headers.authorization ?? "")
        const token = match === null ? undefined : tokens.get(match[2]!)
        const [credential, limit] = token === undefined || token.expiresAtMillis <= now
          ? ["anonymous", 60]
          : [`installation:${token.installationId}`, settings.primary.limit]
        const window = RateLimit.current(windows.get(credential), now, settings.primary.windowMillis)
        const core = RateLimit.headers(window, limit)
        const resource = { limit: core.limit, remaining: core.remaining, used: core.used, reset: core.reset }
        return Reply.json(200, { resources: { core: resource }, rate: resource }, { requestId, rate: core })
      }))

    const router = HttpRouter.empty.pipe(
      HttpRouter.post("/app/installations/:installation_id/access_tokens", createToken),
      HttpRouter.post("/repos/:owner/:repo/issues/:issue_number/comments", createComment),
      HttpRouter.get("/rate_limit", rateLimit)
    )

    /** GitHub's own answer for a status the fault timeline injects, or for an unknown route. */
    const failure = (status: number, decision: Faults.Decision): HttpServerResponse.HttpServerResponse => {
      const context = { requestId: Reply.requestId(uniform) }
      const seconds = decision.statusEndsInMillis === undefined
        ? undefined
        : String(Math.max(1, Math.ceil(decision.statusEndsInMillis / 1000)))
      if (status === 403 || status === 429) {
        return Reply.json(status, {
          message: Reply.secondaryMessage(context.requestId),
          documentation_url: Reply.docs.secondary,
          status: String(status)
        }, { ...context, headers: { "retry-after": seconds ?? "60" } })
      }
      return Reply.basicError(status, {
        ...context,
        headers: status === 503 && seconds !== undefined ? { "retry-after": seconds } : {}
      })
    }

    return { router, failure, comments: Effect.sync((): ReadonlyArray<Comment> => [...comments]) }
  })
