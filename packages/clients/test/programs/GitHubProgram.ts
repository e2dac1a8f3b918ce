// #region github-complete
import * as GitHub from "@bulwark/clients/GitHub"
import { FetchHttpClient } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"

// GITHUB_APP_ID, GITHUB_PRIVATE_KEY (PEM, a secret), GITHUB_INSTALLATION_ID, GITHUB_API_URL, GITHUB_RETRY_*, …
const GitHubLive = GitHub.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))

export const main = (owner: string, repo: string, issue: number) =>
  Effect.gen(function*() {
    const github = yield* GitHub.GitHub
    const comment = yield* github.createComment(
      { owner, repo, issue_number: issue, body: "Triaged by Bulwark's issue runner." },
      { task: "triage" }
    )
    yield* Console.log(`commented: ${comment.html_url}`)
    return comment
  }).pipe(Effect.provide(GitHubLive))

if (process.argv[1] === import.meta.filename) {
  const [owner = "octo-org", repo = "hello", issue = "1"] = process.argv.slice(2)
  NodeRuntime.runMain(main(owner, repo, Number(issue)))
}
// #endregion
