/**
 * The ```ts blocks of the "Resilient client" section of docs/http.md are
 * regions of this file, run here against a loopback server; ServerHintsDocs.test.ts
 * checks the whole page against the docs test files.
 */
import { Errors } from "@bulwark/core"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { serve } from "./utils/server.js"

describe("docs/http.md: resilient client", () => {
  it.live("one client per service", () =>
    Effect.gen(function*() {
      const server = yield* serve((call) => ({ status: call === 1 ? 503 : 200, body: "{\"ok\":true}" }))
      const url = server.url
      const response = yield* (
        // #region resilient-make
        Effect.gen(function*() {
          const orpheus = yield* ResilientClient.make({
            service: "orpheus",
            policy: { retry: { maxAttempts: 5, base: "10 millis" }, attemptTimeout: "30 seconds" }
          })
          return yield* orpheus.execute(HttpClientRequest.get(`${url}/health`))
        }).pipe(Effect.provide(FetchHttpClient.layer))
        // 503, then 200 on the second attempt
        // #endregion resilient-make
      )
      expect(response.status).toBe(200)
      expect(server.calls()).toBe(2)
    }).pipe(Effect.scoped))

  it.live("a keyed POST", () =>
    Effect.gen(function*() {
      const server = yield* serve((call) => (call === 1 ? { status: 0, reset: true } : { status: 200 }))
      const url = server.url
      const orpheus = yield* ResilientClient.make({ service: "orpheus", policy: { retry: { base: "1 millis" } } })
      const jobId = "0b7e8f8a-4a51-4a5e-9a61-3f0d7c1e2a90"
      const response = yield* (
        // #region resilient-keyed
        orpheus.execute(
          HttpClientRequest.post(`${url}/predict`).pipe(HttpClientRequest.bodyUnsafeJson({ task: "generate" })),
          { clientJobId: jobId, timeout: "2 minutes" }
        )
        // body {"task":"generate","client_job_id":"0b7e…"} on every attempt: retried after the reset
        // #endregion resilient-keyed
      )
      expect(response.status).toBe(200)
      expect(server.requests().map((seen) => JSON.parse(seen.body).client_job_id)).toEqual([jobId, jobId])
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a POST declared idempotent", () =>
    Effect.gen(function*() {
      const server = yield* serve((call) => (call === 1 ? { status: 0, reset: true } : { status: 200 }))
      const url = server.url
      const ollama = yield* ResilientClient.make({ service: "ollama", policy: { retry: { base: "1 millis" } } })
      const response = yield* (
        // #region resilient-idempotent
        ollama.execute(
          HttpClientRequest.post(`${url}/api/generate`).pipe(HttpClientRequest.bodyUnsafeJson({ model: "llama3.2" })),
          { idempotent: true }
        )
        // retried after the reset, with no Idempotency-Key header: a generation is safe to repeat
        // #endregion resilient-idempotent
      )
      expect(response.status).toBe(200)
      expect(server.calls()).toBe(2)
      expect(server.requests().map((seen) => seen.headers["idempotency-key"])).toEqual([undefined, undefined])
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("an unkeyed POST", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => ({ status: 0, reset: true }))
      const url = server.url
      const orpheus = yield* ResilientClient.make({ service: "orpheus", policy: { retry: { base: "1 millis" } } })
      const error = yield* Effect.flip(
        // #region resilient-unkeyed
        orpheus.execute(HttpClientRequest.post(`${url}/predict`))
        // ConnectionFailed { service: "orpheus" } after one attempt: the server may have started the job
        // #endregion resilient-unkeyed
      )
      expect(error).toBeInstanceOf(Errors.ConnectionFailed)
      expect(server.calls()).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("giving up", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => ({ status: 503 }))
      const url = server.url
      const ollama = yield* ResilientClient.make({
        service: "ollama",
        policy: { retry: { maxAttempts: 3, base: "1 millis" } }
      })
      const said = yield* (
        // #region resilient-exhausted
        ollama.execute(HttpClientRequest.get(`${url}/api/tags`)).pipe(
          Effect.as("ok"),
          Effect.catchTag("RetriesExhausted", ({ attempts, lastError }) =>
            Effect.succeed(`${lastError._tag} after ${attempts} attempts`))
        )
        // "Unavailable after 3 attempts" (lastError also has status: 503, service: "ollama")
        // #endregion resilient-exhausted
      )
      expect(said).toBe("Unavailable after 3 attempts")
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})
