/**
 * The failure every client shares: an answer that is not what the service's
 * protocol promises (wrong shape, not JSON, cut short, an HTML error page).
 * It names the service, the endpoint and the status, says what was wrong,
 * and keeps a bounded excerpt of what came back, so the log line is enough
 * to see what the server said.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
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
