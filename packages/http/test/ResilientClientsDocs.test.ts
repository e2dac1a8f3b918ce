/**
 * The ```ts blocks of the "Clients by service name", "A drop-in HttpClient"
 * sections of docs/http.md are regions of this file; ServerHintsDocs.test.ts
 * checks the whole page against the docs test files.
 */
import * as ResilientClient from "@bulwark/http/ResilientClient"
import * as ResilientClients from "@bulwark/http/ResilientClients"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { serve } from "./utils/server.js"

describe("docs/http.md: registry and drop-in", () => {
  it.live("clients by service name", () =>
    Effect.gen(function*() {
      const server = yield* serve((call) => ({ status: call === 1 ? 503 : 200 }))
      const url = server.url
      const status = yield* (
        // #region registry
        Effect.gen(function*() {
          const clients = yield* ResilientClients.ResilientClients
          const response = yield* clients.execute("orpheus", HttpClientRequest.get(`${url}/health`))
          return response.status
        }).pipe(
          Effect.provide(
            ResilientClients.layer({
              defaults: { policy: { retry: { maxAttempts: 3, base: "10 millis" } } },
              byName: {
                orpheus: { policy: { retry: { maxAttempts: 5, base: "10 millis" }, attemptTimeout: "2 minutes" } }
              }
            }).pipe(Layer.provide(FetchHttpClient.layer))
          )
        )
        // 200 after a 503: every caller of "orpheus" shares its breaker, budget and gate
        // #endregion registry
      )
      expect(status).toBe(200)
      expect(server.calls()).toBe(2)
    }).pipe(Effect.scoped))

  it.live("a drop-in HttpClient", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => ({ status: 503 }))
      const url = server.url
      const said = yield* (
        // #region drop-in
        Effect.gen(function*() {
          const client = yield* HttpClient.HttpClient // what an SDK asks for
          return yield* client.get(`${url}/repos`)
        }).pipe(
          Effect.as("ok"),
          Effect.catchAll((error) => {
            const failure = ResilientClient.failureOf(error) // the typed failure it carries
            return Effect.succeed(`${error._tag}: ${failure?._tag}`)
          }),
          Effect.provide(
            ResilientClient.layerHttpClient({
              service: "github",
              policy: { retry: { maxAttempts: 2, base: "1 millis" } }
            })
              .pipe(Layer.provide(FetchHttpClient.layer))
          )
        )
        // "ResponseError: RetriesExhausted" (the 503 response attached, lastError Unavailable)
        // #endregion drop-in
      )
      expect(said).toBe("ResponseError: RetriesExhausted")
      expect(server.calls()).toBe(2)
    }).pipe(Effect.scoped))
})
