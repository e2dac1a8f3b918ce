/**
 * The refusals of an OpenAI-compatible chat completions API, one tag per
 * reason, none of them retried: retrying the same request cannot buy credit,
 * shrink a prompt, fix a key or create a model. Each keeps what the server
 * said (its `error.message`, `type`, `code`, `param`) and the request id, so
 * the log line is enough to act on. The transient failures (429 with room
 * later, 5xx, timeouts, resets) are the core's error families, retried by the
 * policy. A 401 is the shared `ClientErrors.AuthenticationFailed`, a request
 * refused before sending `ClientErrors.InvalidInput`, an error event in a
 * stream `ClientErrors.StreamFailed`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { AuthenticationFailed } from "./ClientErrors.js"

const fields = {
  service: Schema.String,
  status: Schema.Number,
  /** The server's `error.message` (or the start of the body when it was not OpenAI's envelope). */
  detail: Schema.String,
  type: Schema.optional(Schema.String),
  code: Schema.optional(Schema.String),
  param: Schema.optional(Schema.String),
  /** The answer's `x-request-id`, to quote to the provider. */
  requestId: Schema.optional(Schema.String)
}

interface Described {
  readonly service: string
  readonly status: number
  readonly detail: string
  readonly code?: string | undefined
  readonly param?: string | undefined
  readonly requestId?: string | undefined
}

const describe = (what: string, error: Described) => {
  const code = error.code === undefined ? "" : ` [${error.code}]`
  const param = error.param === undefined ? "" : ` (param ${error.param})`
  const id = error.requestId === undefined ? "" : ` request ${error.requestId}`
  return `${error.service}: ${what} (HTTP ${error.status})${code}${param}: ${error.detail}${id}`
}

/**
 * 429 `insufficient_quota`: the account is out of credit. Not retried (the
 * official SDK retries it, wasting its attempts).
 *
 * @since 0.1.0
 * @category Errors
 */
export class QuotaExceeded extends Schema.TaggedError<QuotaExceeded>()("QuotaExceeded", fields) {
  override get message() {
    return describe("quota exceeded", this)
  }
}

/**
 * 429 "Request too large": the request needs more tokens than the whole
 * per-minute budget, so no wait can make room for it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RequestTooLarge extends Schema.TaggedError<RequestTooLarge>()("RequestTooLarge", fields) {
  override get message() {
    return describe("request too large for the rate limit", this)
  }
}

/**
 * The server refused the request as invalid (HTTP 400 or 422, OpenAI's
 * `invalid_request_error`): a parameter is wrong (`param` names it), or the
 * context is too long (`code: "context_length_exceeded"`). What the client
 * itself refuses before sending is `ClientErrors.InvalidInput`.
 *
 * @since 0.1.0
 * @category Errors
 */
export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", fields) {
  override get message() {
    return describe("bad request", this)
  }
}

/**
 * 403: the key is valid but may not do this (region, project, model access).
 *
 * @since 0.1.0
 * @category Errors
 */
export class PermissionDenied extends Schema.TaggedError<PermissionDenied>()("PermissionDenied", fields) {
  override get message() {
    return describe("permission denied", this)
  }
}

/**
 * 404: the model does not exist (`code: "model_not_found"`), or the base URL
 * does not serve `/chat/completions`.
 *
 * @since 0.1.0
 * @category Errors
 */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", fields) {
  override get message() {
    return describe("not found", this)
  }
}

/**
 * Every refusal of an OpenAI-compatible server: this module's, and the shared 401.
 *
 * @since 0.1.0
 * @category Errors
 */
export type LlmRefusal =
  | QuotaExceeded
  | RequestTooLarge
  | BadRequest
  | AuthenticationFailed
  | PermissionDenied
  | NotFound
