import * as Errors from "@bulwark/core/Errors"
import * as ServerHints from "@bulwark/http/ServerHints"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { AuthenticationFailed } from "../ClientErrors.js"
import * as LlmErrors from "../LlmErrors.js"
import { ErrorEnvelope } from "../LlmSchema.js"

const decodeEnvelope = Schema.decodeUnknownEither(Schema.parseJson(ErrorEnvelope))

/** What an answer's body said, from OpenAI's envelope when there is one. */
export interface Said {
  readonly detail: string
  readonly type?: string
  readonly code?: string
  readonly param?: string
}

const oneLine = (text: string, max = 300) => {
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length <= max ? flat : `${flat.slice(0, max)}…`
}

/** The envelope's fields, or the start of the body when it is not the envelope. */
export const said = (body: string): Said => {
  const decoded = decodeEnvelope(body)
  if (Either.isLeft(decoded)) return { detail: oneLine(body) === "" ? "(empty body)" : oneLine(body) }
  const { code, message, param, type } = decoded.right.error
  return {
    detail: oneLine(message),
    ...(type == null ? {} : { type }),
    ...(code == null ? {} : { code: String(code) }),
    ...(param == null ? {} : { param })
  }
}

// "Please try again in 644ms." / "in 1.5s." in OpenAI's rate-limit message.
const tryAgainIn = /try again in ((?:\d+(?:\.\d+)?(?:ms|us|µs|ns|h|m|s))+)/

const delayOf = (hint: ServerHints.Hint): Duration.Duration | undefined =>
  hint._tag === "Delay" ? hint.retryAfter : undefined

/**
 * The hint of a 429 that OpenAI's own headers leave out: a tokens 429
 * usually keeps `x-ratelimit-remaining-tokens` above 0 (the request needs more
 * than is left), so `ServerHints` reads no reset from it. Without
 * `retry-after(-ms)`, the body's "Please try again in …" is the exact wait and
 * `x-ratelimit-reset-<bucket>` (the time until the bucket is full) an upper
 * bound: the shorter one that parses wins.
 */
const bucketHint = (
  headers: Readonly<Record<string, string>>,
  bucket: "tokens" | "requests",
  detail: string
): { readonly retryAfter: Duration.Duration; readonly source: string } | undefined => {
  const header = bucket === "tokens" ? ServerHints.headerNames.resetTokens : ServerHints.headerNames.resetRequests
  const fromReset = delayOf(ServerHints.resetDuration(header, headers[header]))
  const written = tryAgainIn.exec(detail)?.[1]
  const fromBody = written === undefined ? undefined : delayOf(ServerHints.resetDuration(header, written))
  if (fromBody !== undefined && (fromReset === undefined || Duration.lessThanOrEqualTo(fromBody, fromReset))) {
    return { retryAfter: fromBody, source: `the body's "try again in ${written}"` }
  }
  return fromReset === undefined ? undefined : { retryAfter: fromReset, source: `${header} ${headers[header]}` }
}

/** What this module's classification may fail with besides the defaults of `HttpFailures`. */
export type Classified = LlmErrors.LlmRefusal | Errors.RateLimited

/**
 * The `classify` override of `HttpFailures` for OpenAI-compatible servers:
 * the refusals get their own tags (with the envelope's fields), a 429 that
 * cannot be helped by waiting (`insufficient_quota`, "Request too large") is
 * not retried, and a bucket 429 without `retry-after(-ms)` gets its hint from
 * the body or the bucket's reset. Anything else falls back to the defaults
 * (`undefined`).
 */
export const classify = (service: string, endpoint = "POST /chat/completions") =>
(
  response: HttpClientResponse.HttpClientResponse,
  excerpt: string
): Option.Option<Classified> | undefined => {
  const { headers, status } = response
  const requestId = headers["x-request-id"]
  const body = said(excerpt)
  const id = requestId === undefined ? {} : { requestId }
  const fields = { service, status, ...body, ...id }
  switch (status) {
    case 400:
    case 422:
      return Option.some(new LlmErrors.BadRequest(fields))
    case 401:
      return Option.some(
        new AuthenticationFailed({
          service,
          endpoint,
          status,
          detail: body.detail,
          credential: "api-key",
          ...(body.code === undefined ? {} : { code: body.code }),
          ...id
        })
      )
    case 403:
      return Option.some(new LlmErrors.PermissionDenied(fields))
    case 404:
      return Option.some(new LlmErrors.NotFound(fields))
    case 429: {
      if (body.code === "insufficient_quota" || body.type === "insufficient_quota") {
        return Option.some(new LlmErrors.QuotaExceeded(fields))
      }
      if (/^request too large/i.test(body.detail)) return Option.some(new LlmErrors.RequestTooLarge(fields))
      // x-should-retry and the retry-after headers are the defaults' business
      if (
        headers["x-should-retry"] !== undefined || headers[ServerHints.headerNames.retryAfterMs] !== undefined ||
        headers[ServerHints.headerNames.retryAfter] !== undefined
      ) return undefined
      const bucket = body.type === "tokens" || body.type === "requests" ? body.type : undefined
      // an empty request bucket's reset is read by the defaults
      if (
        bucket === undefined || (bucket === "requests" && headers[ServerHints.headerNames.remainingRequests] === "0")
      ) {
        return undefined
      }
      const hint = bucketHint(headers, bucket, body.detail)
      if (hint === undefined) return undefined
      return Option.some(
        new Errors.RateLimited({
          service,
          status,
          detail: `${body.detail} (hint from ${hint.source})`,
          retryAfter: hint.retryAfter
        })
      )
    }
    default:
      return undefined
  }
}
