/**
 * A GitHub REST endpoint as a value: method, path template, and the Schemas of
 * its path/query parameters, request body and response. The GitHub client's
 * `request` runs any of them with the client's headers, token, policy and
 * decoding, so a new endpoint is one declaration:
 *
 * ```ts
 * const getIssue = GitHubEndpoint.make({
 *   name: "issues/get", method: "GET", path: "/repos/{owner}/{repo}/issues/{issue_number}",
 *   params: GitHubSchema.IssueParams, response: Issue
 * })
 * ```
 *
 * Parameters named in the path template fill it (URI-encoded); the others
 * become the query string.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { InvalidInput } from "./ClientErrors.js"
import * as GitHubSchema from "./GitHubSchema.js"
import * as Refuse from "./internal/input.js"

/**
 * @since 0.1.0
 * @category Models
 */
export type Method = "GET" | "POST" | "PATCH" | "PUT" | "DELETE"

/**
 * What a parameter is sent as, once encoded.
 *
 * @since 0.1.0
 * @category Models
 */
export type ParamValue = string | number | boolean

/**
 * One endpoint. `Params`, `Body` and `A` are what the caller gives and gets;
 * `Body` is `undefined` for an endpoint without a body.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Endpoint<Params, Body, A> {
  /** GitHub's operationId, e.g. `issues/create-comment`: names the span. */
  readonly name: string
  readonly method: Method
  /** GitHub's path template, e.g. `/repos/{owner}/{repo}/issues/{issue_number}/comments`. */
  readonly path: string
  readonly params: Schema.Schema<Params, Readonly<Record<string, ParamValue | undefined>>>
  readonly body: Schema.Schema<Body, unknown> | undefined
  readonly response: Schema.Schema<A, unknown>
}

/**
 * What a call of `endpoint` takes: its parameters, and its body when it has one.
 *
 * @since 0.1.0
 * @category Models
 */
export type Input<Params, Body> = [Body] extends [undefined] ? { readonly params: Params; readonly body?: undefined }
  : { readonly params: Params; readonly body: Body }

/**
 * Declares an endpoint. Leave `body` out for an endpoint without one.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <
  Params,
  PI extends Readonly<Record<string, ParamValue | undefined>>,
  A,
  AI,
  Body = undefined,
  BI = unknown
>(
  definition: {
    readonly name: string
    readonly method: Method
    readonly path: string
    readonly params: Schema.Schema<Params, PI>
    readonly body?: Schema.Schema<Body, BI> | undefined
    readonly response: Schema.Schema<A, AI>
  }
): Endpoint<Params, Body, A> => ({
  name: definition.name,
  method: definition.method,
  path: definition.path,
  params: definition.params as unknown as Endpoint<Params, Body, A>["params"],
  body: definition.body as Schema.Schema<Body, unknown> | undefined,
  response: definition.response as Schema.Schema<A, unknown>
})

/**
 * `METHOD /path/{template}`, for errors and logs.
 *
 * @since 0.1.0
 * @category Getters
 */
export const describe = (endpoint: Endpoint<any, any, any>): string => `${endpoint.method} ${endpoint.path}`

/**
 * A call, encoded: the path with its parameters filled in, the query and the
 * JSON body.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Encoded {
  readonly path: string
  readonly query: ReadonlyArray<readonly [string, string]>
  readonly body: unknown
}

const placeholder = /\{([A-Za-z0-9_]+)\}/g

/**
 * Encodes a call: validates the parameters and the body against their
 * Schemas and fills the path template. `Left` is the `InvalidInput` naming
 * the first wrong field (`params.issue_number`, `body.body`) of operation
 * `endpoint.name`, for `service` (default `"github"`).
 *
 * @since 0.1.0
 * @category Encoding
 */
export const encode = <Params, Body, A>(
  endpoint: Endpoint<Params, Body, A>,
  input: Input<Params, Body>,
  service = "github"
): Either.Either<Encoded, InvalidInput> =>
  Either.gen(function*() {
    const origin = { service, operation: endpoint.name }
    const params = yield* Either.mapLeft(
      Schema.encodeEither(endpoint.params)(input.params),
      (error) => Refuse.fromParseError(origin, input.params, error, "params")
    )
    const used = new Set<string>()
    let missing: string | undefined
    const path = endpoint.path.replace(placeholder, (_, name: string) => {
      used.add(name)
      const value = params[name]
      if (value === undefined || value === "") {
        missing ??= name
        return ""
      }
      return encodeURIComponent(String(value))
    })
    if (missing !== undefined) {
      return yield* Either.left(
        Refuse.invalid(
          origin,
          `params.${missing}`,
          params[missing],
          `the path parameter of ${endpoint.path} is missing`
        )
      )
    }
    const query = Object.entries(params).flatMap(([name, value]) =>
      used.has(name) || value === undefined ? [] : [[name, String(value)] as const]
    )
    let body: unknown = undefined
    if (endpoint.body !== undefined) {
      body = yield* Either.mapLeft(
        Schema.encodeEither(endpoint.body)(input.body as Body),
        (error) => Refuse.fromParseError(origin, input.body, error, "body")
      )
    }
    return { path, query, body }
  })

/**
 * `POST /app/installations/{installation_id}/access_tokens` (authenticated
 * with the app JWT): mints an installation token.
 *
 * @since 0.1.0
 * @category Endpoints
 */
export const createInstallationAccessToken = make({
  name: "apps/create-installation-access-token",
  method: "POST",
  path: "/app/installations/{installation_id}/access_tokens",
  params: GitHubSchema.InstallationParams,
  body: GitHubSchema.InstallationTokenRequest,
  response: GitHubSchema.InstallationToken
})

/**
 * `POST /repos/{owner}/{repo}/issues/{issue_number}/comments`: comments on an
 * issue or a pull request.
 *
 * @since 0.1.0
 * @category Endpoints
 */
export const createComment = make({
  name: "issues/create-comment",
  method: "POST",
  path: "/repos/{owner}/{repo}/issues/{issue_number}/comments",
  params: GitHubSchema.IssueParams,
  body: GitHubSchema.CommentRequest,
  response: GitHubSchema.IssueComment
})
