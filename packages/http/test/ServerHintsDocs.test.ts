/**
 * Every ```ts block of docs/http.md is a region of this file, of
 * HttpFailuresDocs.test.ts or of ResilientClientDocs.test.ts, run there as a test; the last test fails when the
 * page and those files drift apart.
 */
import { Errors, Retry } from "@bulwark/core"
import { ServerHints } from "@bulwark/http"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

// 2026-11-24T12:00:00Z
const now = Date.UTC(2026, 10, 24, 12, 0, 0)

describe("docs/http.md", () => {
  it("one header", () => {
    // #region one-header
    const inThirty = ServerHints.retryAfter("Tue, 24 Nov 2026 12:00:30 GMT", now)
    // { _tag: "Delay", header: "retry-after", raw: "Tue, 24 Nov 2026 12:00:30 GMT", retryAfter: 30 seconds }
    const garbage = ServerHints.retryAfter("soon", now)
    // { _tag: "Invalid", header: "retry-after", raw: "soon", reason: "not delta-seconds or an HTTP-date" }
    // #endregion one-header
    expect(inThirty).toMatchObject({ _tag: "Delay", retryAfter: Duration.seconds(30) })
    expect(garbage).toEqual({
      _tag: "Invalid",
      header: "retry-after",
      raw: "soon",
      reason: "not delta-seconds or an HTTP-date"
    })
  })

  it("a whole response", () => {
    // #region response
    const hint = ServerHints.fromHeaders({
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "1s",
      "x-ratelimit-remaining-tokens": "0",
      "x-ratelimit-reset-tokens": "6m0s"
    }, now)
    // both buckets are exhausted: the longer reset, 6 minutes
    // #endregion response
    expect(hint).toMatchObject({ _tag: "Delay", header: "x-ratelimit-reset-tokens", retryAfter: Duration.minutes(6) })
  })

  it.effect("the error of a response", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      let calls = 0
      const response = () => {
        calls++
        return calls === 1
          ? { status: 429, headers: { "Retry-After": "2" } }
          : { status: 200, headers: {} }
      }
      const fiber = yield* Effect.fork(
        // #region to-error
        Effect.gen(function*() {
          const policy = yield* Retry.policy({ name: "orpheus", maxAttempts: 3, retryAfter: "override" })
          const call = Effect.gen(function*() {
            const { headers, status } = response()
            if (status < 400) return "ok"
            const now = yield* Clock.currentTimeMillis
            return yield* ServerHints.toError(status, headers, now, { service: "orpheus" })
          })
          return yield* call.pipe(Retry.retry(policy))
        })
        // #endregion to-error
      )
      yield* TestClock.adjust("1999 millis")
      expect(calls).toBe(1) // still waiting out Retry-After: 2
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe("ok")
      expect(calls).toBe(2)
    }))

  it("a 403 from GitHub", () => {
    const reset = String(now / 1000 + 60)
    // #region github
    const error = ServerHints.toError(403, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset }, now, {
      service: "github"
    })
    // RateLimited { status: 403, service: "github", retryAfter: 1 minute }
    // #endregion github
    expect(error).toBeInstanceOf(Errors.RateLimited)
    expect(error).toMatchObject({ status: 403, service: "github", retryAfter: Duration.minutes(1) })
  })

  it("logs what was ignored", () => {
    // #region ignored
    const error = ServerHints.toError(503, { "retry-after": "-1" }, now, { service: "ollama" })
    // Unavailable { status: 503, detail: 'ignored retry-after "-1" (negative)', retryAfter: undefined }
    // #endregion ignored
    expect(error).toBeInstanceOf(Errors.Unavailable)
    expect(error.detail).toBe("ignored retry-after \"-1\" (negative)")
  })

  it("the page and the docs tests agree", () => {
    const doc = fs.readFileSync(path.join(__dirname, "../../../docs/http.md"), "utf8")
    const regions = new Map<string, string>()
    for (
      const file of [
        __filename,
        ...["HttpFailuresDocs", "ResilientClientDocs", "ResilientClientsDocs"].map((name) =>
          path.join(__dirname, `${name}.test.ts`)
        )
      ]
    ) {
      const source = fs.readFileSync(file, "utf8")
      for (const [, name, body] of source.matchAll(/\/\/ #region (\S+)\n([\s\S]*?)\n\s*\/\/ #endregion/g)) {
        expect(regions.has(name!), `region ${name} defined twice`).toBe(false)
        regions.set(name!, dedent(body!))
      }
    }
    const blocks = [...doc.matchAll(/<!-- region: (\S+) -->\n```ts\n([\s\S]*?)\n```/g)]
    expect(blocks.map(([, name]) => name).sort()).toEqual([...regions.keys()].sort())
    for (const [, name, body] of blocks) expect(body, `region ${name}`).toBe(regions.get(name!))
    expect(doc.match(/```ts\n/g)?.length).toBe(blocks.length)
  })
})

const dedent = (text: string) => {
  const lines = text.split("\n")
  const indent = Math.min(...lines.filter((line) => line.trim() !== "").map((line) => line.search(/\S/)))
  return lines.map((line) => line.slice(indent)).join("\n")
}
