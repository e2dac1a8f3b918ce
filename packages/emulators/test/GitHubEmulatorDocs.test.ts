import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { describe, expect, it } from "@effect/vitest"
import { Octokit } from "@octokit/rest"
import { Clock, Effect } from "effect"
import * as GitHubEmulator from "../src/GitHubEmulator.js"
import { appJwt, keyPair } from "./utils/githubJwt.js"

const log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

describe("docs/emulators/github.md", () => {
  it("shows only code these tests run", () => expectDocRegions("emulators/github.md", __filename))

  it.live("start, mint a token and comment with Octokit", () =>
    Effect.gen(function*() {
      // #region start
      // test/utils/githubJwt.ts: an RSA key pair and an RS256 signer, for tests only
      const { privateKey, publicKey } = keyPair()
      const emulator = yield* GitHubEmulator.make({
        appId: 42,
        publicKey,
        installations: [{ id: 7, account: "octo-org", permissions: { issues: "write" } }],
        repos: [{ owner: "octo-org", name: "hello", issues: 10 }]
      })
      // #endregion start
      // #region octokit
      const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const asApp = new Octokit({ baseUrl: emulator.url, auth: appJwt(42, privateKey, now) })
      const { data: token } = yield* Effect.promise(() =>
        asApp.rest.apps.createInstallationAccessToken({ installation_id: 7 })
      )
      const asInstallation = new Octokit({ baseUrl: emulator.url, auth: token.token })
      const { data: comment, headers } = yield* Effect.promise(() =>
        asInstallation.rest.issues.createComment({ owner: "octo-org", repo: "hello", issue_number: 1, body: "Done" })
      )
      // comment.user.login === "bulwark-emulator[bot]"; headers["x-ratelimit-remaining"] === "4999"
      // #endregion octokit
      expect(token.expires_at).toMatch(/Z$/)
      expect(comment.user?.login).toBe("bulwark-emulator[bot]")
      expect(headers["x-ratelimit-remaining"]).toBe("4999")
    }).pipe(Effect.scoped))

  it.live("limits", () =>
    Effect.gen(function*() {
      const { privateKey, publicKey } = keyPair()
      // #region limits
      const emulator = yield* GitHubEmulator.make({
        appId: 42,
        publicKey,
        // 3 requests per installation and minute, then 429 with x-ratelimit-remaining: 0
        primary: { limit: 3, window: "1 minute", status: 429 },
        // one comment per 10 s, then 403 "You have exceeded a secondary rate limit" + retry-after
        secondary: { content: [{ limit: 1, window: "10 seconds" }] }
      })
      // #endregion limits
      const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const asApp = new Octokit({ baseUrl: emulator.url, log, auth: appJwt(42, privateKey, now) })
      const { data } = yield* Effect.promise(() =>
        asApp.rest.apps.createInstallationAccessToken({ installation_id: 1 })
      )
      const octokit = new Octokit({ baseUrl: emulator.url, log, auth: data.token })
      const comment = () =>
        Effect.promise(() =>
          octokit.rest.issues.createComment({ owner: "o", repo: "r", issue_number: 1, body: "x" }).then(
            (response) => response.status,
            (error: { status: number }) => error.status
          )
        )
      expect([yield* comment(), yield* comment(), yield* comment(), yield* comment()]).toEqual([201, 403, 403, 429])
    }).pipe(Effect.scoped))
})
