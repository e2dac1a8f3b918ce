/**
 * The ```ts blocks of the "Classifying responses" section of docs/http.md are
 * regions of this file, run here against a loopback server; ServerHintsDocs.test.ts
 * checks the whole page against both files.
 */
import { Errors, Retry } from "@bulwark/core"
import * as HttpFailures from "@bulwark/http/HttpFailures"
import { FetchHttpClient, HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { serve } from "./utils/server.js"

const busy = JSON.stringify({ error: "server busy, please try again.  maximum pending requests exceeded" })

describe("docs/http.md: classifying responses", () => {
  it.live("a classified client", () =>
    Effect.gen(function*() {
      const { url } = yield* serve(() => ({ status: 503, body: busy }))
      const error = yield* Effect.flip(
        // #region classify
        Effect.gen(function*() {
          const ollama = (yield* HttpClient.HttpClient).pipe(
            yield* HttpFailures.classify({ service: "ollama", isOverloaded: HttpFailures.isOllamaBusy })
          )
          return yield* ollama.post(`${url}/api/generate`)
        }).pipe(Effect.provide(FetchHttpClient.layer))
        // Overloaded { service: "ollama", status: 503, detail: '{"error":"server busy, please try again. …"}' }
        // #endregion classify
      )
      expect(error).toBeInstanceOf(Errors.Overloaded)
      expect(error).toMatchObject({ service: "ollama", status: 503 })
    }).pipe(Effect.scoped))

  it.live("a refusal keeps what the server said", () =>
    Effect.gen(function*() {
      const { url } = yield* serve(() => ({
        status: 404,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ error: "model 'llama9' not found" })
      }))
      const client = (yield* HttpClient.HttpClient).pipe(yield* HttpFailures.classify({ service: "ollama" }))
      const said = yield* (
        // #region rejected
        client.post(`${url}/api/generate`).pipe(
          Effect.as("generated"),
          Effect.catchTag("HttpRejected", (error) => Effect.succeed(`${error.status}: ${error.excerpt}`))
        )
        // "404: {"error":"model 'llama9' not found"}"
        // #endregion rejected
      )
      expect(said).toBe("404: {\"error\":\"model 'llama9' not found\"}")
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("an override per service", () =>
    Effect.gen(function*() {
      const { url } = yield* serve(() => ({ status: 404 }))
      const base = yield* HttpClient.HttpClient
      // #region override
      const github = base.pipe(
        yield* HttpFailures.classify({
          service: "github",
          // deleting what is already gone is done
          classify: (response) =>
            response.status === 404 && response.request.method === "DELETE" ? Option.none() : undefined
        })
      )
      // #endregion override
      expect((yield* github.del(`${url}/comments/1`)).status).toBe(404)
      expect(yield* Effect.flip(github.get(`${url}/comments/1`))).toBeInstanceOf(HttpFailures.HttpRejected)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("with Retry", () =>
    Effect.gen(function*() {
      const server = yield* serve((call) =>
        call <= 2 ? { status: 429, headers: { "Retry-After": "0" } } : { status: 200, body: "{}" }
      )
      const url = server.url
      const response = yield* (
        // #region retry
        Effect.gen(function*() {
          const client = (yield* HttpClient.HttpClient).pipe(yield* HttpFailures.classify({ service: "orpheus" }))
          const policy = yield* Retry.policy({ name: "orpheus", maxAttempts: 3, retryAfter: "override" })
          return yield* client.post(`${url}/generate`).pipe(Retry.retry(policy))
        })
        // #endregion retry
      )
      expect(response.status).toBe(200)
      expect(server.calls()).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})
