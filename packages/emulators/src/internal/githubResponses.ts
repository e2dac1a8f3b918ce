/**
 * GitHub's answers: basic-error and validation-error bodies (with `status` as
 * a string), the rate-limit and request-id headers, and the documented
 * rate-limit messages.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as RateLimit from "./githubRateLimit.js"

/** Documentation links GitHub puts in `documentation_url`. */
export const docs = {
  rest: "https://docs.github.com/rest",
  accessToken: "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app",
  comment: "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
  primary: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
  secondary: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
  rateLimit: "https://docs.github.com/rest/rate-limit/rate-limit#get-rate-limit-status-for-the-authenticated-user"
} as const

/** What every answer carries besides its body. */
export interface Context {
  readonly requestId: string
  readonly rate?: RateLimit.RateHeaders | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
}

const reasons: Record<number, string> = {
  400: "Bad Request",
  401: "Bad credentials",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  410: "Gone",
  422: "Validation Failed",
  429: "Too Many Requests",
  500: "Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout"
}

/** GitHub's one-word message for a status. */
export const reason = (status: number): string => reasons[status] ?? "Error"

/** The headers of an answer: request id, API version, and the rate-limit counters when known. */
export const headers = (context: Context): Record<string, string> => {
  const out: Record<string, string> = {
    "x-github-request-id": context.requestId,
    "x-github-api-version-selected": "2022-11-28",
    "x-github-media-type": "github.v3; format=json"
  }
  if (context.rate !== undefined) {
    out["x-ratelimit-limit"] = String(context.rate.limit)
    out["x-ratelimit-remaining"] = String(context.rate.remaining)
    out["x-ratelimit-used"] = String(context.rate.used)
    out["x-ratelimit-reset"] = String(context.rate.reset)
    out["x-ratelimit-resource"] = context.rate.resource
  }
  return { ...out, ...context.headers }
}

/** A JSON answer with GitHub's headers. */
export const json = (status: number, body: unknown, context: Context): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(body, { status, headers: headers(context) })

/** A basic-error answer: `{message, documentation_url, status}`. */
export const basicError = (
  status: number,
  context: Context,
  message: string = reason(status),
  documentationUrl: string = docs.rest
): HttpServerResponse.HttpServerResponse =>
  json(status, { message, documentation_url: documentationUrl, status: String(status) }, context)

/** One entry of a validation-error's `errors`. */
export interface ValidationIssue {
  readonly resource: string
  readonly code: "missing" | "missing_field" | "invalid" | "already_exists" | "unprocessable" | "custom"
  readonly field?: string | undefined
  readonly message?: string | undefined
}

/** A 422 validation-error answer. */
export const validationError = (
  context: Context,
  errors: ReadonlyArray<ValidationIssue>,
  documentationUrl: string,
  message = "Validation Failed"
): HttpServerResponse.HttpServerResponse =>
  json(422, { message, errors, documentation_url: documentationUrl, status: "422" }, context)

/** The primary-limit message, naming the credential as GitHub does ("installation ID 42"). */
export const primaryMessage = (credential: string): string => `API rate limit exceeded for ${credential}.`

/** The secondary-limit message; it contains "secondary rate limit", which Octokit's throttling plugin matches. */
export const secondaryMessage = (requestId: string): string =>
  "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. " +
  `If you reach out to GitHub Support for help, please include the request ID ${requestId}.`

/** An ISO 8601 time without milliseconds, as GitHub writes them. */
export const isoSeconds = (millis: number): string => new Date(millis).toISOString().replace(/\.\d{3}Z$/, "Z")

/** GitHub's request ids look like `CDE4:2B7A:1F4C3A:3E1B2D:65A1B2C3`: five hex groups. */
export const requestId = (uniform: () => number): string =>
  [4, 4, 6, 6, 8].map((digits) => Math.floor(uniform() * 16 ** digits).toString(16).toUpperCase().padStart(digits, "0"))
    .join(":")

const alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/** `ghs_` and 36 alphanumerics, with no valid checksum: clearly fake to secret scanners. */
export const installationToken = (uniform: () => number): string => {
  let token = "ghs_"
  for (let i = 0; i < 36; i++) token += alphanumeric[Math.floor(uniform() * alphanumeric.length)]
  return token
}
