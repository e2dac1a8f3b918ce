/**
 * What the token provider and the GitHub client share: GitHub's request
 * headers, the classification of its rate-limit and authentication answers,
 * building a request from an endpoint, and decoding an answer without letting
 * a credential into the error.
 */
import * as Errors from "@bulwark/core/Errors"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { MalformedResponse } from "../ClientErrors.js"
import * as GitHubEndpoint from "../GitHubEndpoint.js"
import { AuthenticationFailed, InvalidRequest } from "../GitHubErrors.js"
import * as decode from "./decode.js"

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
  credential: AuthenticationFailed["credential"],
  secondaryWait: Duration.Duration
) =>
(response: HttpClientResponse.HttpClientResponse, excerpt: string): Option.Option<Classified> | undefined => {
  const requestId = response.headers["x-github-request-id"]
  if (response.status === 401) {
    return Option.some(
      new AuthenticationFailed({
        service,
        status: 401,
        credential,
        reason: messageOf(excerpt),
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
): Either.Either<HttpClientRequest.HttpClientRequest, InvalidRequest> =>
  Either.map(
    Either.mapLeft(GitHubEndpoint.encode(endpoint, input), (reason) =>
      new InvalidRequest({ service, endpoint: GitHubEndpoint.describe(endpoint), reason })),
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
