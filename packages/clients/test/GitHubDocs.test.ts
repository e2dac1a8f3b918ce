import * as GitHubEmulator from "@bulwark/emulators/GitHubEmulator"
import { expectDocSection } from "@bulwark/test-support/DocRegions"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Schema } from "effect"
import * as crypto from "node:crypto"
import * as GitHub from "../src/GitHub.js"
import * as GitHubEndpoint from "../src/GitHubEndpoint.js"
import * as GitHubSchema from "../src/GitHubSchema.js"

const keys = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
const publicKey = keys.publicKey.export({ type: "spki", format: "pem" }).toString()
const privateKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString()

describe("docs/clients/github.section.md", () => {
  it("its code blocks are the regions of this file", () => expectDocSection("clients.md", __filename))

  it.live("the complete program comments on an issue through the emulator", () =>
    Effect.gen(function*() {
      const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey })
      const env = new Map([
        ["GITHUB_APP_ID", "42"],
        ["GITHUB_PRIVATE_KEY", privateKey],
        ["GITHUB_INSTALLATION_ID", "1"],
        ["GITHUB_API_URL", emulator.url]
      ])
      // #region github-program
      const program = Effect.gen(function*() {
        const github = yield* GitHub.GitHub
        const comment = yield* github.createComment(
          { owner: "octo-org", repo: "hello", issue_number: 1, body: "Triaged by the runner." },
          { task: "triage" }
        )
        yield* Effect.log(`commented: ${comment.html_url}`)
        return comment
      })

      // GITHUB_APP_ID, GITHUB_PRIVATE_KEY, GITHUB_INSTALLATION_ID, GITHUB_API_URL from the environment
      const GitHubLive = GitHub.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))
      // #endregion github-program
      const comment = yield* program.pipe(
        Effect.provide(GitHubLive),
        Effect.withConfigProvider(ConfigProvider.fromMap(env, { pathDelim: "_" }))
      )
      expect(comment.body).toBe("Triaged by the runner.")

      // #region github-endpoint
      const Issue = Schema.Struct({ number: Schema.Number, title: Schema.String, state: Schema.String })
      const getIssue = GitHubEndpoint.make({
        name: "issues/get",
        method: "GET",
        path: "/repos/{owner}/{repo}/issues/{issue_number}",
        params: GitHubSchema.IssueParams,
        response: Issue
      })
      const issue = GitHub.GitHub.pipe(
        Effect.flatMap((github) =>
          github.request(getIssue, { params: { owner: "octo-org", repo: "hello", issue_number: 1 } })
        )
      )
      // #endregion github-endpoint
      // the emulator has no GET issue route: the request reaches it, typed, and is refused
      const refused = yield* issue.pipe(
        Effect.flip,
        Effect.provide(GitHubLive),
        Effect.withConfigProvider(ConfigProvider.fromMap(env, { pathDelim: "_" }))
      )
      expect(refused).toMatchObject({ _tag: "HttpRejected", status: 404 })
    }).pipe(Effect.scoped))
})
