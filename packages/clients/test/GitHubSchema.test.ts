import { describe, expect, it } from "@effect/vitest"
import { DateTime, Either, Redacted, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as GitHubEndpoint from "../src/GitHubEndpoint.js"
import * as GitHubSchema from "../src/GitHubSchema.js"

// GitHub's own OpenAPI description (13 MB), parsed once for the file.
const spec = JSON.parse(
  fs.readFileSync(path.join(__dirname, "../node_modules/@octokit/openapi/generated/api.github.com.json"), "utf8")
) as {
  readonly paths: Record<string, Record<string, any>>
  readonly components: { readonly examples: Record<string, { readonly value: unknown }> }
}

/** The example of an operation's 201 answer, following its `$ref`. */
const example201 = (endpoint: GitHubEndpoint.Endpoint<any, any, any>) => {
  const operation = spec.paths[endpoint.path]![endpoint.method.toLowerCase()]
  expect(operation.operationId).toBe(endpoint.name)
  const ref: string = operation.responses["201"].content["application/json"].examples.default.$ref
  return spec.components.examples[ref.replace("#/components/examples/", "")]!.value
}

describe("GitHubSchema against GitHub's OpenAPI description", () => {
  it("the installation-token example decodes; its token becomes a Redacted", () => {
    const decoded = Schema.decodeUnknownSync(GitHubSchema.InstallationToken)(
      example201(GitHubEndpoint.createInstallationAccessToken)
    )
    expect(Redacted.value(decoded.token)).toMatch(/^ghs_/)
    expect(String(decoded.token)).not.toMatch(/ghs_/)
    expect(DateTime.formatIso(decoded.expires_at)).toBe("2016-07-11T22:14:10.000Z")
    expect(decoded.repositories?.[0]).toMatchObject({ name: "Hello-World", full_name: "octocat/Hello-World" })
  })

  it("the issue-comment example decodes", () => {
    const decoded = Schema.decodeUnknownSync(GitHubSchema.IssueComment)(example201(GitHubEndpoint.createComment))
    expect(decoded).toMatchObject({ id: 1, body: "Me too", user: { login: "octocat" } })
  })

  it("the request examples encode through the endpoints' body Schemas", () => {
    for (const endpoint of [GitHubEndpoint.createInstallationAccessToken, GitHubEndpoint.createComment]) {
      const operation = spec.paths[endpoint.path]![endpoint.method.toLowerCase()]
      const examples = operation.requestBody.content["application/json"].examples as Record<string, { value: unknown }>
      for (const { value } of Object.values(examples)) {
        expect(Either.isRight(Schema.decodeUnknownEither(endpoint.body as Schema.Schema<unknown, unknown>)(value)))
          .toBe(true)
      }
    }
  })

  it("a path template is filled, URI-encoded; other params become the query", () => {
    const listComments = GitHubEndpoint.make({
      name: "issues/list-comments",
      method: "GET",
      path: "/repos/{owner}/{repo}/issues/{issue_number}/comments",
      params: Schema.Struct({ ...GitHubSchema.IssueParams.fields, per_page: Schema.optional(Schema.Int) }),
      response: Schema.Array(GitHubSchema.IssueComment)
    })
    expect(GitHubEndpoint.encode(listComments, { params: { owner: "o", repo: "r.x", issue_number: 3, per_page: 5 } }))
      .toEqual(Either.right({ path: "/repos/o/r.x/issues/3/comments", query: [["per_page", "5"]], body: undefined }))
    expect(Either.isLeft(GitHubEndpoint.encode(listComments, { params: { owner: "o", repo: "..", issue_number: 3 } })))
      .toBe(true)
  })
})
