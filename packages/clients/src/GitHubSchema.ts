/**
 * Schemas of the GitHub REST API calls the client makes, after GitHub's
 * OpenAPI description (`installation-token`, `issue-comment`, `simple-user`).
 * Only the fields a caller relies on are required; the rest are optional or
 * dropped, so a response with new fields still decodes. The test suite
 * decodes the official examples of `@octokit/openapi` with them.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A user as GitHub embeds it (`simple-user`); for a comment made by an app,
 * its bot user (`login` like `my-app[bot]`, `type: "Bot"`).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const SimpleUser = Schema.Struct({
  login: Schema.String,
  id: Schema.Number,
  type: Schema.optional(Schema.String),
  site_admin: Schema.optional(Schema.Boolean),
  html_url: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category Schemas
 */
export interface SimpleUser extends Schema.Schema.Type<typeof SimpleUser> {}

/**
 * A permission level an app grants or asks for.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const PermissionLevel = Schema.Literal("read", "write", "admin")

/**
 * A repository as the token endpoint lists it (the fields a caller uses).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const Repository = Schema.Struct({
  id: Schema.Number,
  name: Schema.String,
  full_name: Schema.String,
  private: Schema.optional(Schema.Boolean),
  owner: Schema.optional(Schema.Struct({ login: Schema.String }))
})

/**
 * The body of `POST /app/installations/{installation_id}/access_tokens`:
 * optional restrictions of the token (never more than the installation has).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const InstallationTokenRequest = Schema.Struct({
  repositories: Schema.optional(Schema.Array(Schema.NonEmptyString).pipe(Schema.maxItems(500))),
  repository_ids: Schema.optional(Schema.Array(Schema.Int.pipe(Schema.positive())).pipe(Schema.maxItems(500))),
  permissions: Schema.optional(Schema.Record({ key: Schema.String, value: PermissionLevel }))
})

/**
 * @since 0.1.0
 * @category Schemas
 */
export interface InstallationTokenRequest extends Schema.Schema.Type<typeof InstallationTokenRequest> {}

/**
 * The 201 answer of the token endpoint. `token` decodes to a `Redacted`, so
 * the token cannot reach a log or an error by accident; its format is not
 * assumed beyond being a non-empty string (GitHub is rolling out a longer
 * `ghs_<app id>_<JWT>` form). `expires_at` is one hour after creation.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const InstallationToken = Schema.Struct({
  token: Schema.Redacted(Schema.NonEmptyString),
  expires_at: Schema.DateTimeUtc,
  permissions: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  repository_selection: Schema.optional(Schema.Literal("all", "selected")),
  repositories: Schema.optional(Schema.Array(Repository))
})

/**
 * @since 0.1.0
 * @category Schemas
 */
export interface InstallationToken extends Schema.Schema.Type<typeof InstallationToken> {}

/**
 * The path parameters of the token endpoint.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const InstallationParams = Schema.Struct({
  installation_id: Schema.Int.pipe(Schema.positive())
})

/**
 * An owner (user or organization login): letters, digits and single hyphens,
 * at most 39 characters, as GitHub allows.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const Owner = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/, {
    message: () => "an owner login: letters, digits and single inner hyphens, at most 39 characters"
  })
)

/**
 * A repository name: letters, digits, `.`, `-`, `_`, at most 100 characters,
 * not `.` or `..`.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const RepoName = Schema.String.pipe(
  Schema.pattern(/^(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}$/, {
    message: () => "a repository name: letters, digits, '.', '-', '_', at most 100 characters, not '.' or '..'"
  })
)

/**
 * The path parameters of an issue (pull requests are issues too).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const IssueParams = Schema.Struct({
  owner: Owner,
  repo: RepoName,
  issue_number: Schema.Int.pipe(Schema.positive())
})

/**
 * @since 0.1.0
 * @category Schemas
 */
export interface IssueParams extends Schema.Schema.Type<typeof IssueParams> {}

/**
 * The largest comment body GitHub accepts (characters).
 *
 * @since 0.1.0
 * @category Constants
 */
export const maxCommentLength = 65_536

/**
 * The body of `POST /repos/{owner}/{repo}/issues/{issue_number}/comments`.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const CommentRequest = Schema.Struct({
  body: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(maxCommentLength))
})

/**
 * @since 0.1.0
 * @category Schemas
 */
export interface CommentRequest extends Schema.Schema.Type<typeof CommentRequest> {}

/**
 * The 201 answer of the comment endpoint (`issue-comment`).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const IssueComment = Schema.Struct({
  id: Schema.Number,
  node_id: Schema.String,
  url: Schema.String,
  html_url: Schema.String,
  issue_url: Schema.String,
  body: Schema.optional(Schema.String),
  user: Schema.NullOr(SimpleUser),
  created_at: Schema.String,
  updated_at: Schema.String,
  author_association: Schema.optional(Schema.String),
  performed_via_github_app: Schema.optional(
    Schema.NullOr(Schema.Struct({ id: Schema.Number, slug: Schema.optional(Schema.String), name: Schema.String }))
  )
})

/**
 * @since 0.1.0
 * @category Schemas
 */
export interface IssueComment extends Schema.Schema.Type<typeof IssueComment> {}
