/**
 * The GitHub client's own refusals, besides the core's transient families
 * (rate limits, 5xx, timeouts) and @bulwark/http's `HttpRejected` (403, 404,
 * 410, 422 …): a request refused before it was sent, and a credential GitHub
 * did not accept. Neither is retried. Neither ever carries a token, a JWT or
 * a key: only GitHub's `message` and where it happened.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The request did not match its endpoint's Schemas (an empty comment body, an
 * issue number of 0, a path parameter missing): refused before sending.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  service: Schema.String,
  /** The endpoint, e.g. `POST /repos/{owner}/{repo}/issues/{issue_number}/comments`. */
  endpoint: Schema.String,
  /** What was wrong, in the words of the Schema parser. */
  reason: Schema.String
}) {
  override get message() {
    return `${this.service} ${this.endpoint}: refused before sending: ${this.reason}`
  }
}

/**
 * GitHub answered 401: the app JWT was refused (bad key, bad `iss`, clock
 * drift: GitHub's message says which) or the installation token is unknown or
 * expired (`Bad credentials`). Not retried as such; the GitHub client drops
 * an installation token that earned it and tries once with a fresh one.
 *
 * @since 0.1.0
 * @category Errors
 */
export class AuthenticationFailed extends Schema.TaggedError<AuthenticationFailed>()("AuthenticationFailed", {
  service: Schema.String,
  status: Schema.Number,
  /** Which credential was refused. */
  credential: Schema.Literal("app-jwt", "installation-token"),
  /** GitHub's `message`, e.g. `A JSON web token could not be decoded`. */
  reason: Schema.String,
  /** The answer's `x-github-request-id`, to quote to GitHub support. */
  requestId: Schema.optional(Schema.String)
}) {
  override get message() {
    const id = this.requestId === undefined ? "" : ` (request ${this.requestId})`
    return `${this.service}: GitHub refused the ${this.credential} (HTTP ${this.status}): ${this.reason}${id}`
  }
}
