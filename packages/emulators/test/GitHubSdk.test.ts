import { describe, expect, it } from "@effect/vitest"
import { Octokit } from "@octokit/rest"
import { Clock, Effect, TestClock } from "effect"
import * as GitHubEmulator from "../src/GitHubEmulator.js"
import { appJwt, keyPair } from "./utils/githubJwt.js"

const app = keyPair()
// generated here, not in a test: RSA key generation blocks the event loop the tests beside it share
const stranger = keyPair()
const epochMillis = 1_800_000_000_000

interface Failure {
  readonly name: string
  readonly status: number
  readonly message: string
  readonly headers: Record<string, string | undefined>
  readonly data: any
}

/** Runs an Octokit call; a RequestError comes back as data, anything else fails the test. */
const attempt = <A>(run: () => Promise<A>) =>
  Effect.promise(() =>
    run().then(
      (value) => ({ ok: true as const, value }),
      (error: any) => ({
        ok: false as const,
        error: {
          name: error.name,
          status: error.status,
          message: error.message,
          headers: error.response?.headers ?? {},
          data: error.response?.data
        } as Failure
      })
    )
  )

/** Octokit logs every failed request with console.warn; these tests expect failures. */
const log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

const setup = (options: GitHubEmulator.Options = {}) =>
  Effect.gen(function*() {
    const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey, ...options })
    const seconds = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const asApp = new Octokit({ baseUrl: emulator.url, log, auth: appJwt(42, app.privateKey, seconds) })
    const minted = yield* Effect.promise(() => asApp.rest.apps.createInstallationAccessToken({ installation_id: 1 }))
    const asInstallation = new Octokit({ baseUrl: emulator.url, log, auth: minted.data.token })
    const comment = (body = "Me too") =>
      attempt(() =>
        asInstallation.rest.issues.createComment({ owner: "octo-org", repo: "hello", issue_number: 1, body })
      )
    return { emulator, minted, asApp, comment }
  })

describe("GitHubEmulator with @octokit/rest", () => {
  it.live("createInstallationAccessToken with the app JWT, then createComment with the token", () =>
    Effect.gen(function*() {
      const { comment, minted } = yield* setup()
      expect(minted.status).toBe(201)
      expect(minted.data.token).toMatch(/^ghs_/)
      expect(minted.data.permissions).toEqual({ issues: "write", contents: "read", metadata: "read" })
      expect(minted.headers["x-ratelimit-remaining"]).toBe("4999")
      const created = yield* comment()
      expect(created.ok).toBe(true)
      if (!created.ok) return
      expect(created.value.status).toBe(201)
      expect(created.value.data.body).toBe("Me too")
      expect(created.value.data.user?.login).toBe("bulwark-emulator[bot]")
      expect(created.value.headers.location).toBe(created.value.data.url)
      expect(created.value.headers["x-github-request-id"]).toBeDefined()
    }).pipe(Effect.scoped))

  it.live("a JWT signed with another key reaches Octokit as a 401 RequestError", () =>
    Effect.gen(function*() {
      const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey })
      const seconds = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const octokit = new Octokit({ baseUrl: emulator.url, log, auth: appJwt(42, stranger.privateKey, seconds) })
      const result = yield* attempt(() => octokit.rest.apps.createInstallationAccessToken({ installation_id: 1 }))
      expect(result.ok).toBe(false)
      if (result.ok) return
      expect(result.error).toMatchObject({
        name: "HttpError",
        status: 401,
        data: { message: "A JSON web token could not be decoded", status: "401" }
      })
      expect(result.error.message).toContain("A JSON web token could not be decoded")
    }).pipe(Effect.scoped))

  // On the TestClock (here and below): no time passes between the requests, however slow the machine.
  it.scoped("the primary limit reaches Octokit as a 403 RequestError with x-ratelimit-remaining \"0\"", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(epochMillis)
      const { comment } = yield* setup({ primary: { limit: 1 } })
      expect((yield* comment()).ok).toBe(true)
      const refused = yield* comment()
      expect(refused.ok).toBe(false)
      if (refused.ok) return
      expect(refused.error).toMatchObject({
        name: "HttpError",
        status: 403,
        headers: { "x-ratelimit-remaining": "0", "x-ratelimit-limit": "1", "x-ratelimit-resource": "core" },
        data: { message: "API rate limit exceeded for installation ID 1." }
      })
      // the hour's window from the first request
      expect(refused.error.headers["x-ratelimit-reset"]).toBe(String(epochMillis / 1000 + 3600))
    }))

  it.scoped("a secondary limit reaches Octokit as 403 / 429 with retry-after and the \"secondary rate\" text", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(epochMillis)
      for (const status of [403, 429] as const) {
        const { comment } = yield* setup({ secondary: { content: [{ limit: 1, window: "30 seconds" }], status } })
        expect((yield* comment()).ok).toBe(true)
        const refused = yield* comment()
        expect(refused.ok).toBe(false)
        if (refused.ok) return
        expect(refused.error.status).toBe(status)
        expect(refused.error.message).toMatch(/\bsecondary rate\b/i)
        expect(refused.error.headers["retry-after"]).toBe("30")
        expect(refused.error.headers["x-ratelimit-remaining"]).not.toBe("0")
      }
    }))
})
