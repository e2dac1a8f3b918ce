import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, FastCheck as fc, Fiber, TestClock } from "effect"
import * as crypto from "node:crypto"
import * as http from "node:http"
import * as GitHubEmulator from "../src/GitHubEmulator.js"
import * as Jwt from "../src/internal/githubJwt.js"
import * as RateLimit from "../src/internal/githubRateLimit.js"
import { appJwt, keyPair, sign } from "./utils/githubJwt.js"
import { sleeping, tick } from "./utils/testClock.js"

const app = keyPair()
const stranger = keyPair()
const settings: Jwt.Settings = { publicKey: crypto.createPublicKey(app.publicKey), appId: 42, skewSeconds: 30 }
const now = 1_800_000_000

interface Answer {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: any
}

const call = (
  url: string,
  options: { method?: string; auth?: string; body?: unknown; raw?: string } = {}
) =>
  Effect.promise(async (): Promise<Answer> => {
    const headers: Record<string, string> = { accept: "application/vnd.github+json" }
    if (options.auth !== undefined) headers.authorization = options.auth
    headers["user-agent"] = "bulwark-test"
    const response = await fetch(url, {
      method: options.method ?? "POST",
      headers,
      ...(options.raw !== undefined
        ? { body: options.raw }
        : options.body !== undefined
        ? { body: JSON.stringify(options.body) }
        : {})
    })
    const text = await response.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: Object.fromEntries(response.headers), body }
  })

/** fetch always sends a User-Agent; node:http sends none unless told. */
const withoutUserAgent = (url: string) =>
  Effect.async<{ status: number; body: string }>((resume) => {
    http.get(url, (response) => {
      let body = ""
      response.on("data", (chunk) => (body += chunk))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body })))
    })
  })

/** Starts an emulator for app 42 and returns it with helpers that mint JWTs and tokens at the Clock's now. */
const start = (options: GitHubEmulator.Options = {}) =>
  Effect.gen(function*() {
    const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey, ...options })
    const jwt = Effect.map(Clock.currentTimeMillis, (millis) => appJwt(42, app.privateKey, Math.floor(millis / 1000)))
    const token = (installation = 1, body?: unknown) =>
      Effect.flatMap(jwt, (value) =>
        call(`${emulator.url}/app/installations/${installation}/access_tokens`, { auth: `Bearer ${value}`, body }))
    const comment = (auth: string, body: unknown = { body: "Me too" }, path = "/repos/octo-org/hello/issues/1") =>
      call(`${emulator.url}${path}/comments`, { auth, body })
    return { emulator, jwt, token, comment }
  })

describe("githubJwt.verify", () => {
  const claims = { iat: now - 30, exp: now + 570, iss: 42 }
  const refusal = (message: string) => ({ _tag: "Refusal", message })

  it("accepts Octokit's JWT and the app id as number or text", () => {
    expect(Jwt.verify(sign(claims, app.privateKey), now, settings)).toEqual({ ...claims, iss: "42" })
    expect(Jwt.verify(sign({ ...claims, iss: "42" }, app.privateKey), now, settings)).toMatchObject({ iss: "42" })
    const withClient = { ...settings, clientId: "Iv1.abc" }
    expect(Jwt.verify(sign({ ...claims, iss: "Iv1.abc" }, app.privateKey), now, withClient)).toMatchObject({
      iss: "Iv1.abc"
    })
  })

  it("refuses each broken token with GitHub's message", () => {
    const cases: Array<[string, string]> = [
      [sign(claims, stranger.privateKey), Jwt.messages.undecodable],
      [sign(claims, app.privateKey, { alg: "HS256" }), Jwt.messages.undecodable],
      ["not-a-jwt", Jwt.messages.undecodable],
      ["a.b.c", Jwt.messages.undecodable],
      [`${sign(claims, app.privateKey)}x!`, Jwt.messages.undecodable],
      [sign({ ...claims, iat: now + 31 }, app.privateKey), Jwt.messages.iatFuture],
      [sign({ ...claims, iat: "soon" }, app.privateKey), Jwt.messages.iatInvalid],
      [sign({ ...claims, iat: now - 0.5 }, app.privateKey), Jwt.messages.iatInvalid],
      [sign({ ...claims, exp: now }, app.privateKey), Jwt.messages.expInvalid],
      [sign({ iat: now - 30, iss: 42 }, app.privateKey), Jwt.messages.expInvalid],
      [sign({ ...claims, exp: now + 631 }, app.privateKey), Jwt.messages.expTooFar],
      [sign({ ...claims, iss: 43 }, app.privateKey), Jwt.messages.issuer],
      [sign({ iat: claims.iat, exp: claims.exp }, app.privateKey), Jwt.messages.issuer]
    ]
    for (const [token, message] of cases) expect(Jwt.verify(token, now, settings), message).toEqual(refusal(message))
  })

  it("absorbs the configured skew and no more", () => {
    expect(Jwt.verify(sign({ ...claims, iat: now + 30 }, app.privateKey), now, settings)).toMatchObject({ iss: "42" })
    expect(Jwt.verify(sign({ ...claims, exp: now + 630 }, app.privateKey), now, settings)).toMatchObject({ iss: "42" })
    const strict = { ...settings, skewSeconds: 0 }
    expect(Jwt.verify(sign({ ...claims, iat: now + 1 }, app.privateKey), now, strict)).toEqual(
      refusal(Jwt.messages.iatFuture)
    )
  })

  it("reads keys: RSA public or private PEM; anything else is a reason", () => {
    expect(typeof Jwt.publicKey(app.privateKey)).not.toBe("string")
    expect(Jwt.publicKey("nope")).toMatch(/^not a PEM public key/)
    const ec = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({
      type: "spki",
      format: "pem"
    })
    expect(Jwt.publicKey(ec.toString())).toBe("an ec key, not RSA")
  })
})

describe("githubRateLimit", () => {
  const hour = 3_600_000

  it("opens a window at the first request, counts, refuses at zero, resets at the whole second", () => {
    let window: RateLimit.PrimaryWindow | undefined
    const at = 1_700_000_000_250
    const verdicts = [0, 1, 2].map((i) => {
      const verdict = RateLimit.take(window, at + i, 2, hour)
      window = verdict.window
      return verdict
    })
    expect(verdicts.map((verdict) => verdict.allowed)).toEqual([true, true, false])
    expect(verdicts.map((verdict) => verdict.headers.remaining)).toEqual([1, 0, 0])
    expect(verdicts[2]!.headers).toEqual({ limit: 2, remaining: 0, used: 2, reset: 1_700_003_601, resource: "core" })
    const after = RateLimit.take(window, 1_700_003_601_000, 2, hour)
    expect(after).toMatchObject({ allowed: true, headers: { remaining: 1, used: 1, reset: 1_700_007_201 } })
  })

  it.prop(
    "remaining never negative, remaining + used = limit, reset monotone, at most limit per window",
    [fc.integer({ min: 1, max: 5 }), fc.array(fc.integer({ min: 0, max: 1500 }), { maxLength: 60 })],
    ([limit, gaps]) => {
      let window: RateLimit.PrimaryWindow | undefined
      let at = 1_700_000_000_000
      let lastReset = 0
      const allowedByWindow = new Map<number, number>()
      for (const gap of gaps) {
        at += gap
        const verdict = RateLimit.take(window, at, limit, 1000)
        window = verdict.window
        const { remaining, reset, used } = verdict.headers
        if (remaining < 0 || remaining + used !== limit || reset < lastReset || reset * 1000 <= at) return false
        lastReset = reset
        if (verdict.allowed) allowedByWindow.set(reset, (allowedByWindow.get(reset) ?? 0) + 1)
      }
      return [...allowedByWindow.values()].every((count) => count <= limit)
    }
  )

  it("content limits: refuses past the limit and says when a slot frees", () => {
    const rules = [{ limit: 2, windowMillis: 60_000 }]
    const first = RateLimit.takeContent([], 0, rules)
    const second = RateLimit.takeContent(first.times, 10_000, rules)
    const third = RateLimit.takeContent(second.times, 20_000, rules)
    expect([first.allowed, second.allowed, third.allowed]).toEqual([true, true, false])
    expect(third.waitMillis).toBe(40_000)
    expect(RateLimit.takeContent(third.times, 60_000, rules).allowed).toBe(true)
  })

  it.prop(
    "content limits: no window ever holds more than its limit; a refusal's wait frees a slot",
    [fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 80 })],
    ([gaps]) => {
      const rules = [{ limit: 3, windowMillis: 1000 }, { limit: 5, windowMillis: 5000 }]
      let times: ReadonlyArray<number> = []
      const accepted: Array<number> = []
      let at = 0
      for (const gap of gaps) {
        at += gap
        const verdict = RateLimit.takeContent(times, at, rules)
        times = verdict.times
        if (verdict.allowed) accepted.push(at)
        else if (!(verdict.waitMillis > 0) || !RateLimit.takeContent(times, at + verdict.waitMillis, rules).allowed) {
          return false
        }
      }
      return rules.every((rule) =>
        accepted.every((start) =>
          accepted.filter((t) => t >= start && t < start + rule.windowMillis).length <= rule.limit
        )
      )
    }
  )
})

describe("GitHubEmulator", () => {
  it.live("mints an installation token (201) and comments with it (201 + Location)", () =>
    Effect.gen(function*() {
      const { comment, emulator, token } = yield* start()
      const minted = yield* token()
      expect(minted.status).toBe(201)
      expect(minted.body).toMatchObject({
        permissions: { issues: "write", contents: "read", metadata: "read" },
        repository_selection: "all"
      })
      expect(minted.body.token).toMatch(/^ghs_[A-Za-z0-9]{36}$/)
      const expires = Date.parse(minted.body.expires_at)
      const nowMillis = yield* Clock.currentTimeMillis
      expect(minted.body.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
      expect(Math.abs(expires - nowMillis - 3_600_000)).toBeLessThan(2000)
      expect(minted.headers).toMatchObject({ "x-ratelimit-limit": "5000", "x-ratelimit-resource": "core" })
      expect(minted.headers["x-github-request-id"]).toMatch(
        /^[0-9A-F]{4}:[0-9A-F]{4}:[0-9A-F]{6}:[0-9A-F]{6}:[0-9A-F]{8}$/
      )

      const created = yield* comment(`token ${minted.body.token}`)
      expect(created.status).toBe(201)
      expect(created.body).toMatchObject({
        body: "Me too",
        user: { login: "bulwark-emulator[bot]", type: "Bot" },
        html_url: `https://github.com/octo-org/hello/issues/1#issuecomment-${created.body.id}`,
        issue_url: `${emulator.url}/repos/octo-org/hello/issues/1`,
        author_association: "NONE",
        performed_via_github_app: { id: 42 }
      })
      expect(created.headers.location).toBe(`${emulator.url}/repos/octo-org/hello/issues/comments/${created.body.id}`)
      expect(created.headers).toMatchObject({ "x-ratelimit-remaining": "4999", "x-ratelimit-used": "1" })
      const bearer = yield* comment(`Bearer ${minted.body.token}`)
      expect(bearer.body.id).toBe(created.body.id + 1)
      expect((yield* emulator.comments).map((stored) => stored.body)).toEqual(["Me too", "Me too"])
    }).pipe(Effect.scoped))

  it.live("answers JWT failures with 401 basic-error bodies", () =>
    Effect.gen(function*() {
      const { emulator } = yield* start()
      const seconds = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const url = `${emulator.url}/app/installations/1/access_tokens`
      const cases: Array<[string | undefined, string]> = [
        [undefined, "Requires authentication"],
        [`Bearer ${appJwt(42, stranger.privateKey, seconds)}`, Jwt.messages.undecodable],
        [
          `Bearer ${sign({ iat: seconds - 700, exp: seconds - 100, iss: 42 }, app.privateKey)}`,
          Jwt.messages.expInvalid
        ],
        [`Bearer ${sign({ iat: seconds + 120, exp: seconds + 500, iss: 42 }, app.privateKey)}`, Jwt.messages.iatFuture],
        [`Bearer ${appJwt(7, app.privateKey, seconds)}`, Jwt.messages.issuer],
        ["Bearer garbage", Jwt.messages.undecodable]
      ]
      for (const [auth, message] of cases) {
        const answer = yield* call(url, auth === undefined ? {} : { auth })
        expect(answer, message).toMatchObject({
          status: 401,
          body: { message, documentation_url: "https://docs.github.com/rest", status: "401" }
        })
        expect(answer.headers["x-ratelimit-limit"]).toBe("60")
      }
    }).pipe(Effect.scoped))

  it.live("token endpoint: 404 unknown installation, 422 beyond the installation, 400 bad JSON, restriction", () =>
    Effect.gen(function*() {
      const { jwt, token } = yield* start({
        installations: [{ id: 7, account: "octo-org", permissions: { issues: "read" }, repositories: ["hello"] }],
        repos: [{ owner: "octo-org", name: "hello" }]
      })
      expect(yield* token(1)).toMatchObject({ status: 404, body: { message: "Not Found", status: "404" } })
      expect(yield* token(7, { permissions: { issues: "write" } })).toMatchObject({
        status: 422,
        body: { message: "The permissions requested are not granted to this installation.", status: "422" }
      })
      expect((yield* token(7, { repositories: ["other"] })).status).toBe(422)
      expect((yield* token(7, { permissions: "all" })).body).toMatchObject({
        message: "Validation Failed",
        errors: [{ code: "invalid" }]
      })
      const { emulator } = yield* start()
      const malformed = yield* call(`${emulator.url}/app/installations/1/access_tokens`, {
        auth: `Bearer ${yield* jwt}`,
        raw: "{"
      })
      expect(malformed.body).toEqual({
        message: "Problems parsing JSON",
        documentation_url: "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app",
        status: "400"
      })
      expect((yield* token(7, { repositories: ["Hello"] })).body).toMatchObject({
        repository_selection: "selected",
        repositories: [{ full_name: "octo-org/hello" }]
      })
    }).pipe(Effect.scoped))

  it.live("comment endpoint: 401, 404, 410, 403 and 422 in GitHub's shapes", () =>
    Effect.gen(function*() {
      const { comment, token } = yield* start({
        installations: [{ id: 1 }, { id: 2, permissions: { issues: "read" } }],
        repos: [{ owner: "octo-org", name: "hello", issues: 3 }, { owner: "octo-org", name: "quiet", hasIssues: false }]
      })
      const writer = `token ${(yield* token(1)).body.token}`
      const reader = `token ${(yield* token(2)).body.token}`
      expect(yield* comment("token ghs_unknown")).toMatchObject({
        status: 401,
        body: { message: "Bad credentials", status: "401" }
      })
      expect((yield* comment(writer, undefined, "/repos/octo-org/nope/issues/1")).status).toBe(404)
      expect((yield* comment(writer, undefined, "/repos/octo-org/hello/issues/4")).status).toBe(404)
      expect((yield* comment(writer, undefined, "/repos/octo-org/quiet/issues/1")).body).toMatchObject({
        message: "Issues are disabled for this repo",
        status: "410"
      })
      expect((yield* comment(reader)).body).toMatchObject({
        message: "Resource not accessible by integration",
        status: "403"
      })
      expect(yield* comment(writer, {})).toMatchObject({
        status: 422,
        body: {
          message: "Validation Failed",
          errors: [{ resource: "IssueComment", code: "missing_field", field: "body" }],
          status: "422"
        }
      })
      expect((yield* comment(writer, { body: 5 })).body.errors).toEqual([
        { resource: "IssueComment", code: "invalid", field: "body" }
      ])
      expect((yield* comment(writer, undefined, "/repos/OCTO-ORG/Hello/issues/3")).status).toBe(201)
    }).pipe(Effect.scoped))

  it.live("primary limit: 403 (or 429) with remaining 0 and the documented message", () =>
    Effect.gen(function*() {
      for (const status of [403, 429] as const) {
        const { comment, token } = yield* start({ primary: { limit: 2, status } })
        const auth = `token ${(yield* token()).body.token}`
        expect((yield* comment(auth)).headers["x-ratelimit-remaining"]).toBe("1")
        expect((yield* comment(auth)).headers["x-ratelimit-remaining"]).toBe("0")
        const refused = yield* comment(auth)
        expect(refused).toMatchObject({
          status,
          body: {
            message: "API rate limit exceeded for installation ID 1.",
            documentation_url: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            status: String(status)
          },
          headers: { "x-ratelimit-remaining": "0", "x-ratelimit-used": "2", "x-ratelimit-limit": "2" }
        })
        const reset = Number(refused.headers["x-ratelimit-reset"])
        expect(reset * 1000).toBeGreaterThan(yield* Clock.currentTimeMillis)
      }
    }).pipe(Effect.scoped))

  it.live("secondary limits: content creation with retry-after, and without it", () =>
    Effect.gen(function*() {
      const limited = yield* start({ secondary: { content: [{ limit: 1, window: "1 minute" }] } })
      const auth = `token ${(yield* limited.token()).body.token}`
      expect((yield* limited.comment(auth)).status).toBe(201)
      const refused = yield* limited.comment(auth)
      expect(refused.status).toBe(403)
      expect(refused.body.message).toMatch(/^You have exceeded a secondary rate limit\./)
      expect(refused.body.message).toContain(refused.headers["x-github-request-id"])
      expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(59)
      expect(refused.headers["x-ratelimit-remaining"]).toBe("4998")

      const bare = yield* start({
        secondary: { content: [{ limit: 1, window: "1 minute" }], status: 429, retryAfter: false }
      })
      const bareAuth = `token ${(yield* bare.token()).body.token}`
      yield* bare.comment(bareAuth)
      const noHint = yield* bare.comment(bareAuth)
      expect(noHint.status).toBe(429)
      expect(noHint.headers["retry-after"]).toBeUndefined()
    }).pipe(Effect.scoped))

  // On the TestClock: the first two stay in flight, however slow the machine, until the test moves the clock on.
  it.scoped("secondary limits: a request beyond the concurrent ones is refused at once", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now * 1000)
      const busy = yield* start({ serviceTime: "100ms", secondary: { concurrency: 2 } })
      const minting = yield* Effect.fork(busy.token())
      yield* tick(100)
      const auth = `token ${(yield* Fiber.join(minting)).body.token}`
      const two = yield* Effect.fork(Effect.all([busy.comment(auth), busy.comment(auth)], { concurrency: 2 }))
      yield* sleeping(100, 2)
      const third = yield* busy.comment(auth)
      expect(third.status).toBe(403)
      expect(third.body.message).toMatch(/^You have exceeded a secondary rate limit\./)
      yield* TestClock.adjust("100 millis")
      expect((yield* Fiber.join(two)).map((answer) => answer.status)).toEqual([201, 201])
    }))

  it.live("injected faults and unknown routes answer in GitHub's format; User-Agent is required", () =>
    Effect.gen(function*() {
      const down = yield* GitHubEmulator.make({ faults: "status=503@0s-30s" })
      const unavailable = yield* call(`${down.url}/rate_limit`, { method: "GET" })
      expect(unavailable.body).toMatchObject({ message: "Service Unavailable", status: "503" })
      expect(Number(unavailable.headers["retry-after"])).toBeGreaterThan(25)
      const limited = yield* GitHubEmulator.make({ faults: "status=429" })
      const secondary = yield* call(`${limited.url}/rate_limit`, { method: "GET" })
      expect(secondary.body.message).toMatch(/secondary rate limit/)
      expect(secondary.headers["retry-after"]).toBe("60")
      const { emulator } = yield* start()
      expect((yield* call(`${emulator.url}/nowhere`)).body).toEqual({
        message: "Not Found",
        documentation_url: "https://docs.github.com/rest",
        status: "404"
      })
      const anonymous = yield* withoutUserAgent(`${emulator.url}/rate_limit`)
      expect(anonymous.status).toBe(403)
      expect(JSON.parse(anonymous.body).message).toMatch(/User-Agent/)
      const rate = yield* call(`${emulator.url}/rate_limit`, { method: "GET" })
      expect(rate.body.resources.core).toMatchObject({ limit: 60, remaining: 60, used: 0 })
    }).pipe(Effect.scoped))

  it.effect("rejects bad options with InvalidEmulatorOption", () =>
    Effect.gen(function*() {
      const bad: Array<[GitHubEmulator.Options, string]> = [
        [{ appId: 0 }, "appId"],
        [{ publicKey: "not a key" }, "publicKey"],
        [{ tokenLifetime: "0 millis" }, "tokenLifetime"],
        [{ clockSkew: "forever" as never }, "clockSkew"],
        [{ installations: [{ id: 1 }, { id: 1 }] }, "installations"],
        [{ installations: [{ id: 1, permissions: { issues: "owner" as never } }] }, "installations"],
        [{ repos: [{ owner: "", name: "x" }] }, "repos"],
        [{ primary: { limit: 1.5 } }, "primary.limit"],
        [{ primary: { status: 500 as never } }, "primary.status"],
        [{ secondary: { content: [{ limit: 0, window: "1 minute" }] } }, "secondary.content"],
        [{ secondary: { concurrency: -1 } }, "secondary.concurrency"],
        [{ serviceTime: "soon" }, "serviceTime"]
      ]
      for (const [options, option] of bad) {
        const error = yield* Effect.flip(Effect.scoped(GitHubEmulator.make(options)))
        expect(error, option).toMatchObject({ _tag: "InvalidEmulatorOption", service: "github", option })
      }
    }))

  it.scoped("with TestClock: tokens expire after their lifetime and the primary window resets", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now * 1000)
      const { comment, token } = yield* start({
        primary: { limit: 1, window: "1 minute" },
        tokenLifetime: "10 minutes"
      })
      const minted = yield* token()
      expect(minted.body.expires_at).toBe(new Date((now + 600) * 1000).toISOString().replace(".000", ""))
      const auth = `token ${minted.body.token}`
      expect((yield* comment(auth)).status).toBe(201)
      const refused = yield* comment(auth)
      expect(refused).toMatchObject({ status: 403, headers: { "x-ratelimit-reset": String(now + 60) } })
      yield* TestClock.adjust(Duration.minutes(1))
      expect((yield* comment(auth)).headers["x-ratelimit-reset"]).toBe(String(now + 120))
      yield* TestClock.adjust(Duration.minutes(9))
      expect((yield* comment(auth)).body).toMatchObject({ message: "Bad credentials", status: "401" })
    }))
})
