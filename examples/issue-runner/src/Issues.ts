/**
 * The issues the runner answers: a small bundled list for the demo (they
 * exist in the GitHub emulator), or a JSON file named by
 * `ISSUE_RUNNER_ISSUES_FILE` for a run against a real repository.
 *
 * @since 0.1.0
 */
import { FileSystem } from "@effect/platform"
import { Config, Effect, ParseResult, Schema } from "effect"
import { InvalidIssuesFile } from "./RunnerErrors.js"

/**
 * One issue to answer: where it is, and what the LLM reads.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const Issue = Schema.Struct({
  owner: Schema.NonEmptyTrimmedString,
  repo: Schema.NonEmptyTrimmedString,
  number: Schema.Int.pipe(Schema.positive()),
  title: Schema.String,
  body: Schema.String
})

/**
 * @since 0.1.0
 * @category Models
 */
export interface Issue extends Schema.Schema.Type<typeof Issue> {}

/**
 * `owner/repo#number`, how GitHub writes a reference to an issue.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const ref = (issue: Pick<Issue, "owner" | "repo" | "number">): string =>
  `${issue.owner}/${issue.repo}#${issue.number}`

/**
 * The demo's issues, all in `octo-org/hello` (the GitHub emulator has them).
 *
 * @since 0.1.0
 * @category Defaults
 */
export const bundled: ReadonlyArray<Issue> = [
  {
    owner: "octo-org",
    repo: "hello",
    number: 1,
    title: "Runner crashes when the LLM answers 429",
    body: "Every burst of issues ends with `Error: Request failed with status code 429` and the job is lost."
  },
  {
    owner: "octo-org",
    repo: "hello",
    number: 2,
    title: "Comments are sometimes posted twice",
    body: "After a 502 from GitHub the same reply appeared twice on my issue."
  },
  {
    owner: "octo-org",
    repo: "hello",
    number: 3,
    title: "Installation token request times out",
    body: "`getInstallationToken` hangs for minutes when api.github.com is slow."
  },
  {
    owner: "octo-org",
    repo: "hello",
    number: 4,
    title: "Document the retry settings",
    body: "Which environment variables change the retry counts and delays?"
  }
]

/**
 * The variable naming a JSON file of issues (an array of `{ owner, repo,
 * number, title, body }`).
 *
 * @since 0.1.0
 * @category Config
 */
export const fileVariable = "ISSUE_RUNNER_ISSUES_FILE"

const decodeIssues = Schema.decodeUnknown(
  Schema.parseJson(Schema.Array(Issue).pipe(Schema.minItems(1, { message: () => "expected at least one issue" }))),
  { errors: "all" }
)

/** `[1].number: is missing`, one problem a line: shorter than the Schema's tree for a person editing the file. */
const problems = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => {
      const at = issue.path.map((key) => typeof key === "number" ? `[${key}]` : `.${String(key)}`).join("")
      return at === "" ? issue.message : `${at.replace(/^\./, "")}: ${issue.message}`
    })
    .join("; ")

/**
 * Reads and checks a file of issues; a missing file, bad JSON or an issue
 * without its fields is an `InvalidIssuesFile` naming the file and the problem.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromFile = (
  file: string
): Effect.Effect<ReadonlyArray<Issue>, InvalidIssuesFile, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) => new InvalidIssuesFile({ file, reason: error.message }))
    )
    return yield* decodeIssues(text).pipe(
      Effect.mapError((error) => new InvalidIssuesFile({ file, reason: problems(error) }))
    )
  })

/**
 * The issues of `ISSUE_RUNNER_ISSUES_FILE` when it is set, else `fallback`
 * (none: the variable is required, as against a real GitHub).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const load = (
  fallback: ReadonlyArray<Issue> | undefined
): Effect.Effect<ReadonlyArray<Issue>, InvalidIssuesFile, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const file = yield* Config.option(Config.nonEmptyString(fileVariable)).pipe(
      Effect.mapError((error) => new InvalidIssuesFile({ file: `$${fileVariable}`, reason: String(error) }))
    )
    if (file._tag === "Some") return yield* fromFile(file.value)
    if (fallback !== undefined) return fallback
    return yield* new InvalidIssuesFile({
      file: `$${fileVariable}`,
      reason: "not set: against a real GitHub, name a JSON file of the issues to answer"
    })
  })
