/**
 * The failures every client shares, one tag each across the package: an
 * answer that is not what the protocol promises (`MalformedResponse`), a
 * call refused before anything was sent (`InvalidInput`), a credential the
 * server did not accept (`AuthenticationFailed`) and a stream that failed
 * after it started (`StreamFailed`). Each names the service and where it
 * happened, so the log line is enough to act on. What only one service says
 * (a 400 in OpenAI's envelope, a busy GPU) has its client's own tag.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * An answer that is not what the service's protocol promises (wrong shape,
 * not JSON, cut short, an HTML error page). It keeps a bounded excerpt of
 * what came back, so the log line is enough to see what the server said.
 *
 * @since 0.1.0
 * @category Errors
 */
export class MalformedResponse extends Schema.TaggedError<MalformedResponse>()("MalformedResponse", {
  service: Schema.String,
  /** The operation's endpoint, e.g. `POST /api/chat`. */
  endpoint: Schema.String,
  status: Schema.Number,
  /** What did not match, in the words of the Schema parser. */
  reason: Schema.String,
  /** The start of the body (at most 512 characters). */
  excerpt: Schema.String
}) {
  override get message() {
    return `${this.service} ${this.endpoint} answered ${this.status} with a malformed body: ${this.reason} — ${
      JSON.stringify(this.excerpt)
    }`
  }
}

/**
 * The client refused the call before sending anything: an option out of the
 * protocol's range, a request that does not match its Schema, a path
 * parameter missing. Never retried: the same input gets the same refusal.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  service: Schema.String,
  /** The operation or endpoint, e.g. `generate`, `POST /api/chat`. */
  operation: Schema.String,
  /** The option or the path in the request, as the caller spelled it (`temperature`, `messages.0.role`). */
  field: Schema.String,
  /** The offending value, rendered for humans (at most 80 characters). */
  value: Schema.String,
  /** What was wrong, or what a valid value looks like. */
  reason: Schema.String
}) {
  override get message() {
    return `${this.service} ${this.operation} refused before sending: ${this.field} = ${this.value}: ${this.reason}`
  }
}

/**
 * The server did not accept the credential (HTTP 401): a wrong or expired API
 * key, a JWT GitHub could not verify, a revoked installation token. The
 * credential itself is never in the error, only the server's words about it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class AuthenticationFailed extends Schema.TaggedError<AuthenticationFailed>()("AuthenticationFailed", {
  service: Schema.String,
  endpoint: Schema.String,
  status: Schema.Number,
  /** The server's message, e.g. `Bad credentials`, `Incorrect API key provided`. */
  detail: Schema.String,
  /** Which credential was refused, when the client holds more than one (`app-jwt`, `installation-token`). */
  credential: Schema.optional(Schema.String),
  /** The server's error code, when it sends one (`invalid_api_key`). */
  code: Schema.optional(Schema.String),
  /** The answer's request id (`x-request-id`, `x-github-request-id`), to quote to the provider. */
  requestId: Schema.optional(Schema.String)
}) {
  override get message() {
    const credential = this.credential === undefined ? "the credential" : `the ${this.credential}`
    const code = this.code === undefined ? "" : ` [${this.code}]`
    const id = this.requestId === undefined ? "" : ` (request ${this.requestId})`
    return `${this.service} ${this.endpoint} refused ${credential} (HTTP ${this.status})${code}: ${this.detail}${id}`
  }
}

/**
 * A stream that had started (its 200 sent, `chunks` chunks received) carried
 * an error from the server: an `{"error": ...}` line, an `event: error`. The
 * output so far is incomplete; not retried, since the caller has consumed
 * part of it and a new attempt would repeat it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class StreamFailed extends Schema.TaggedError<StreamFailed>()("StreamFailed", {
  service: Schema.String,
  endpoint: Schema.String,
  /** The server's error text. */
  detail: Schema.String,
  /** Chunks received before the error. */
  chunks: Schema.Number,
  /** The model that was generating, when the request named one. */
  model: Schema.optional(Schema.String),
  /** The server's error code, when it sends one. */
  code: Schema.optional(Schema.String),
  /** The answer's request id, to quote to the provider. */
  requestId: Schema.optional(Schema.String)
}) {
  override get message() {
    const model = this.model === undefined || this.model === "" ? "" : ` for model "${this.model}"`
    const code = this.code === undefined ? "" : ` [${this.code}]`
    const id = this.requestId === undefined ? "" : ` (request ${this.requestId})`
    return `${this.service} ${this.endpoint}${model} failed after ${this.chunks} chunk(s)${code}: ${this.detail}${id}`
  }
}
