/**
 * The failures of the Ollama client that are Ollama's own: a missing model
 * (404, pull it), a request Ollama refused (400), and a stream cut before its
 * final object. None of them is retried: the first two cannot succeed
 * unchanged, and retrying a stream that already produced chunks would repeat
 * output the caller has seen. A request refused before sending, and an error
 * line mid-stream, are the shared `ClientErrors.InvalidInput` and
 * `ClientErrors.StreamFailed`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * `model '<name>' not found` (404): the model is not pulled on that server.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ModelNotFound extends Schema.TaggedError<ModelNotFound>()("ModelNotFound", {
  model: Schema.String,
  endpoint: Schema.String,
  /** Ollama's error text. */
  detail: Schema.String
}) {
  override get message() {
    return `ollama has no model "${this.model}" (${this.endpoint}: ${this.detail}); pull it with \`ollama pull ${this.model}\``
  }
}

/**
 * A request Ollama refused (HTTP 400: invalid options, a model that cannot
 * take images…): `detail` is Ollama's text. A request the client refused
 * before sending is `ClientErrors.InvalidInput` instead.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RequestRefused extends Schema.TaggedError<RequestRefused>()("RequestRefused", {
  model: Schema.String,
  endpoint: Schema.String,
  status: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `ollama refused ${this.endpoint} for model "${this.model}" (HTTP ${this.status}): ${this.detail}`
  }
}

/**
 * A stream that ended before its `done: true` object: the connection was
 * cut, the body stopped mid-line, or no chunk came within the read timeout.
 * Not retried, so the caller's partial output is never duplicated.
 *
 * @since 0.1.0
 * @category Errors
 */
export class StreamTruncated extends Schema.TaggedError<StreamTruncated>()("StreamTruncated", {
  model: Schema.String,
  endpoint: Schema.String,
  /** Chunks received before the end. */
  chunks: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `ollama ${this.endpoint} stream for model "${this.model}" ended after ${this.chunks} chunk(s) without its final object: ${this.detail}`
  }
}
