/**
 * The `x-should-retry` header: ServerHints.shouldRetry, and how HttpFailures
 * lets it decide over the status.
 */
import { Classify } from "@bulwark/core"
import * as HttpFailures from "@bulwark/http/HttpFailures"
import * as ServerHints from "@bulwark/http/ServerHints"
import { FetchHttpClient, HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc } from "effect"
import { type Reply, serve } from "./utils/server.js"

const failureOf = (reply: Reply, options: HttpFailures.Options<never> = {}) =>
  Effect.gen(function*() {
    const { url } = yield* serve(() => reply)
    const client = (yield* HttpClient.HttpClient).pipe(yield* HttpFailures.classify({ service: "svc", ...options }))
    return yield* Effect.flip(client.get(url))
  }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))

describe("ServerHints.shouldRetry", () => {
  it("true and false, case and spaces ignored", () => {
    expect(ServerHints.shouldRetry("true")).toEqual({ _tag: "Force", retry: true, raw: "true" })
    expect(ServerHints.shouldRetry(" FALSE ")).toEqual({ _tag: "Force", retry: false, raw: " FALSE " })
    expect(ServerHints.shouldRetry(undefined)).toEqual({ _tag: "None" })
    expect(ServerHints.shouldRetry("")).toMatchObject({ _tag: "Invalid", reason: "empty" })
    expect(ServerHints.shouldRetry("1")).toMatchObject({ _tag: "Invalid", raw: "1", header: "x-should-retry" })
  })

  it.prop("any other text is Invalid and keeps the raw value", [fc.string()], ([raw]) => {
    const verdict = ServerHints.shouldRetry(raw)
    const word = raw.trim().toLowerCase()
    if (word === "true" || word === "false") return verdict._tag === "Force" && verdict.retry === (word === "true")
    return verdict._tag === "Invalid" && verdict.raw === raw
  })
})

describe("HttpFailures: x-should-retry", () => {
  const table: ReadonlyArray<readonly [status: number, header: string | undefined, tag: string, retryable: boolean]> = [
    [503, undefined, "Unavailable", true],
    [503, "false", "HttpRejected", false],
    [500, "false", "HttpRejected", false],
    [429, "false", "HttpRejected", false],
    [409, "true", "Unavailable", true],
    [400, "true", "Unavailable", true],
    [404, undefined, "HttpRejected", false],
    [409, "maybe", "HttpRejected", false],
    [503, "maybe", "Unavailable", true],
    [502, "true", "ServerError", true]
  ]
  for (const [status, header, tag, retryable] of table) {
    it.live(`${status} with x-should-retry ${header ?? "absent"} → ${tag}`, () =>
      Effect.gen(function*() {
        const error = yield* failureOf({
          status,
          headers: header === undefined ? {} : { "x-should-retry": header, "retry-after": "2" }
        })
        expect(error._tag).toBe(tag)
        expect(Classify.isRetryable(error)).toBe(retryable)
        expect(error).toMatchObject({ status, service: "svc" })
        if (header === "maybe") expect(error.detail).toContain("ignored x-should-retry \"maybe\" (not true or false)")
        if (header === "true" || header === "false") expect(error.detail).toContain(`x-should-retry: ${header}`)
        expect(HttpFailures.failedResponse(error)?.response.status).toBe(status)
      }))
  }

  it.live("a forced retry keeps the server's hint", () =>
    Effect.gen(function*() {
      const error = yield* failureOf({ status: 409, headers: { "x-should-retry": "true", "retry-after": "2" } })
      expect(error).toMatchObject({ _tag: "Unavailable", retryAfter: Duration.seconds(2) })
    }))

  it.live("shouldRetryHeader: false ignores it", () =>
    Effect.gen(function*() {
      const error = yield* failureOf({ status: 503, headers: { "x-should-retry": "false" } }, {
        shouldRetryHeader: false
      })
      expect(error._tag).toBe("Unavailable")
      expect(HttpFailures.failedResponse(error)?.shouldRetry).toEqual({ _tag: "None" })
    }))

  it("shouldRetryHeader must be a boolean", () => {
    const built = HttpFailures.classify({ shouldRetryHeader: "yes" as unknown as boolean })
    expect(built).toMatchObject({ _tag: "Left", left: { field: "shouldRetryHeader" } })
  })
})
