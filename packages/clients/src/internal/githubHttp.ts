/**
 * What the token provider and the GitHub client share: GitHub's request
 * headers, the classification of its rate-limit and authentication answers,
 * building a request from an endpoint, and decoding an answer without letting
 * a credential into the error.
 */
import * as Errors from "@bulwark/core/Errors"
import type * as Policy from "@bulwark/core/Policy"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { AuthenticationFailed, type InvalidInput, MalformedResponse } from "../ClientErrors.js"
import * as GitHubEndpoint from "../GitHubEndpoint.js"
import { buffered } from "./buffered.js"
import type { PolicyOptions } from "./config.js"
import * as decode from "./decode.js"
import * as Options_ from "./options.js"

/** GitHub's recommended headers (a request without `User-Agent` is refused with 403). */
export const headers = (userAgent: string) => ({
  accept: "application/vnd.github+json",
  "x-github-api-version": "2022-11-28",
  "user-agent": userAgent
})

/** What the classification may fail a response with, besides @bulwark/http's defaults. */
export type Classified = AuthenticationFailed | Errors.RateLimited

const secondaryText = /\bsecondary rate limit/i

const messageOf = (excerpt: string): string => {
  try {
    const parsed = JSON.parse(excerpt) as { message?: unknown }
    if (typeof parsed.message === "string") return parsed.message
  } catch {
    // Not GitHub's JSON error body (a proxy's page): keep its start.
  }
  return decode.excerpt(excerpt.replace(/\s+/g, " ").trim()).slice(0, 200)
}

/**
 * The classify override: 401 is {@link AuthenticationFailed}; a 403 or 429
 * saying "secondary rate limit" with neither `retry-after` nor an exhausted
 * `x-ratelimit-remaining` (which @bulwark/http would read as a plain 403 refusal
 * or a hint-less 429) is `RateLimited` with GitHub's rule "wait at least a
 * minute" as its hint. Every other answer falls to the defaults, which already
 * read `retry-after` and `x-ratelimit-reset` (with remaining 0) on 403 and 429.
 */
export const classify = (
  service: string,
  credential: "app-jwt" | "installation-token",
  secondaryWait: Duration.Duration
) =>
(response: HttpClientResponse.HttpClientResponse, excerpt: string): Option.Option<Classified> | undefined => {
  const requestId = response.headers["x-github-request-id"]
  if (response.status === 401) {
    const { method, url } = response.request
    return Option.some(
      new AuthenticationFailed({
        service,
        // the path as sent: one client serves every endpoint, and the path holds no credential
        endpoint: `${method} ${URL.canParse(url) ? new URL(url).pathname : url}`,
        status: 401,
        credential,
        detail: messageOf(excerpt),
        ...(requestId === undefined ? {} : { requestId })
      })
    )
  }
  if (response.status !== 403 && response.status !== 429) return undefined
  const exhausted = /^\s*0+\s*$/.test(response.headers["x-ratelimit-remaining"] ?? "")
  if (!secondaryText.test(excerpt) || response.headers["retry-after"] !== undefined || exhausted) return undefined
  return Option.some(
    new Errors.RateLimited({
      service,
      status: response.status,
      retryAfter: secondaryWait,
      detail: `secondary rate limit without retry-after: waiting at least ${
        Duration.format(secondaryWait)
      }, as GitHub asks`
    })
  )
}

/** Replaces anything that looks like a credential in a body excerpt. */
export const scrub = (text: string): string =>
  text
    .replace(/("token"\s*:\s*")[^"]*("?)/g, "$1<redacted>$2")
    .replace(/\bgh[pousr]_[A-Za-z0-9_.-]*/g, "<redacted>")
    .replace(/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]*/g, "<redacted>")

/** Reads and decodes an answer; a malformed one keeps a scrubbed excerpt. */
export const decodeResponse = <A>(
  endpoint: GitHubEndpoint.Endpoint<any, any, A>,
  service: string,
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<A, MalformedResponse> =>
  decode.json(endpoint.response, { service, endpoint: GitHubEndpoint.describe(endpoint) })(response).pipe(
    Effect.mapError((error) => new MalformedResponse({ ...error, excerpt: scrub(error.excerpt) }))
  )

/** The HTTP request of a call, or the reason it cannot be sent. */
export const build = <P, B, A>(
  endpoint: GitHubEndpoint.Endpoint<P, B, A>,
  input: GitHubEndpoint.Input<P, B>,
  apiUrl: string,
  service: string,
  userAgent: string
): Either.Either<HttpClientRequest.HttpClientRequest, InvalidInput> =>
  Either.map(
    GitHubEndpoint.encode(endpoint, input, service),
    ({ body, path, query }) => {
      let request = HttpClientRequest.make(endpoint.method)(`${apiUrl}${path}`).pipe(
        HttpClientRequest.setHeaders(headers(userAgent)),
        HttpClientRequest.setUrlParams(query)
      )
      if (body !== undefined) {
        request = HttpClientRequest.bodyUnsafeJson(request, body)
      }
      return request
    }
  )

/** The options the GitHub client and the token provider share. */
export interface Settings {
  readonly apiUrl?: string | undefined
  readonly userAgent?: string | undefined
  readonly secondaryRateLimitWait?: Duration.DurationInput | undefined
  readonly policy?: PolicyOptions | Policy.Policy | false | undefined
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/**
 * Checks the shared options over `defaults` and builds the resilient client
 * of `service` over the `HttpClient` in context (transformed, its bodies
 * read whole inside each attempt, then the policy), classifying a 401 as a
 * refusal of `credential`.
 */
export const setup = (
  invalid: ReturnType<typeof Options_.invalid>,
  service: string,
  defaults: {
    readonly apiUrl: string
    readonly userAgent: string
    readonly secondaryRateLimitWait: Duration.DurationInput
    readonly policy: PolicyOptions
  },
  options: Settings,
  credential: "app-jwt" | "installation-token"
) =>
  Effect.gen(function*() {
    const rawUrl = options.apiUrl ?? defaults.apiUrl
    const apiUrl = Options_.httpUrl(rawUrl)
    if (apiUrl === undefined) return yield* invalid("apiUrl", rawUrl, "an http(s) URL")
    const userAgent = options.userAgent ?? defaults.userAgent
    if (typeof userAgent !== "string" || userAgent.trim() === "") {
      return yield* invalid("userAgent", userAgent, "a non-empty string")
    }
    const secondaryWait = yield* Options_.finiteDuration(
      invalid,
      "secondaryRateLimitWait",
      options.secondaryRateLimitWait ?? defaults.secondaryRateLimitWait
    )
    const policy = yield* Options_.policy(service, defaults.policy, options.policy)
    const transport = (options.transformClient ?? ((client) => client))(yield* HttpClient.HttpClient)
    // The body is read inside the attempt: a stalled body is an attempt timeout, a cut one a transport failure.
    const client = yield* ResilientClient.make({
      service,
      policy,
      classify: { classify: classify(service, credential, secondaryWait) }
    }).pipe(Effect.provideService(HttpClient.HttpClient, buffered(transport)))
    return { apiUrl, userAgent, policy, client }
  })
