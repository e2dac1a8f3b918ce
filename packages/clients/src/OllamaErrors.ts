/**
 * The failures of the Ollama client that are Ollama's own: a missing model
 * (404, pull it), a refused request (400), and the two ways a stream can end
 * badly after its 200 was sent. None of them is retried: the first two
 * cannot succeed unchanged, and retrying a stream that already produced
 * chunks would repeat output the caller has seen.
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
 * A request Ollama refused (400), or one the client refused before sending
 * it (`status` absent): `detail` names what was wrong.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  model: Schema.String,
  endpoint: Schema.String,
  status: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  override get message() {
    const by = this.status === undefined ? "refused before sending" : `refused by ollama (HTTP ${this.status})`
    return `${this.endpoint} for model "${this.model}" ${by}: ${this.detail}`
  }
}

/**
 * A stream that carried an `{"error": ...}` line after `chunks` chunks: the
 * server failed mid-generation (a runner crash, say).
 *
 * @since 0.1.0
 * @category Errors
 */
export class StreamFailed extends Schema.TaggedError<StreamFailed>()("StreamFailed", {
  model: Schema.String,
  endpoint: Schema.String,
  /** Chunks received before the error line. */
  chunks: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `ollama ${this.endpoint} for model "${this.model}" failed after ${this.chunks} chunk(s): ${this.detail}`
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
