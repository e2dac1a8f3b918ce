import * as ResilientClients from "@bulwark/http/ResilientClients"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { serve } from "./utils/server.js"

const fast = { retry: { maxAttempts: 2, base: "1 millis", jitter: "none" } } as const

const withEnv = (env: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))

describe("ResilientClients", () => {
  it.effect("one client per name, the same on every get; unnamed services get the defaults", () =>
    Effect.gen(function*() {
      const clients = yield* ResilientClients.ResilientClients
      const a = yield* clients.get("orpheus")
      expect(yield* clients.get("orpheus")).toBe(a)
      expect(a.policy.layers.retry?.maxAttempts).toBe(7)
      const other = yield* clients.get("ollama")
      expect(other).not.toBe(a)
      expect(other.policy.layers.retry?.maxAttempts).toBe(2)
      expect((yield* clients.list).map((client) => client.service)).toEqual(["orpheus", "ollama"])
      expect((yield* clients.stats).map((stats) => stats.service)).toEqual(["orpheus", "ollama"])
      expect(yield* Effect.flip(clients.get(""))).toMatchObject({ _tag: "InvalidPolicy", field: "service" })
    }).pipe(Effect.provide(
      ResilientClients.layer({
        defaults: { policy: fast },
        byName: { orpheus: { policy: { retry: { maxAttempts: 7 } } } }
      })
        .pipe(Layer.provide(FetchHttpClient.layer))
    )))

  it.live("callers share the breaker: it opens for everyone", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => ({ status: 503 }))
      const clients = yield* ResilientClients.ResilientClients
      const request = HttpClientRequest.get(server.url)
      yield* Effect.flip(clients.execute("svc", request))
      const error = yield* Effect.flip(clients.execute("svc", request))
      expect(error).toMatchObject({ _tag: "CircuitOpen" })
      expect(server.calls()).toBe(1)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        ResilientClients.layer({
          defaults: { policy: { circuitBreaker: { trip: { _tag: "ConsecutiveFailures", threshold: 1 } } } }
        }).pipe(Layer.provide(FetchHttpClient.layer))
      )
    ))

  it.effect("a bad option fails the layer, naming the service and the field", () =>
    Effect.gen(function*() {
      const refused = (options: ResilientClients.Options) =>
        Effect.flip(Layer.build(ResilientClients.layer(options).pipe(Layer.provide(FetchHttpClient.layer))))
      expect(yield* refused({ byName: { orpheus: { policy: { retry: { maxAttempts: 0 } } } } })).toMatchObject({
        _tag: "InvalidPolicy",
        field: "byName.orpheus.maxAttempts"
      })
      expect(yield* refused({ defaults: { classify: { maxExcerpt: -1 } } })).toMatchObject({
        field: "defaults.maxExcerpt"
      })
    }).pipe(Effect.scoped))

  it.effect("layerConfig: DEFAULT and per-name variables over the options", () =>
    Effect.gen(function*() {
      const clients = yield* ResilientClients.ResilientClients
      const claude = yield* clients.get("claude_api")
      expect(claude.policy.layers.retry?.maxAttempts).toBe(8)
      expect(claude.policy.layers.attemptTimeout).toBeUndefined()
      const other = yield* clients.get("other")
      expect(other.policy.layers.retry?.maxAttempts).toBe(4)
      expect(other.policy.layers.attemptTimeout?.after).toMatchObject({ value: { millis: 5000 } })
    }).pipe(Effect.provide(
      ResilientClients.layerConfig({ names: ["claude_api"] }).pipe(
        Layer.provide(FetchHttpClient.layer),
        Layer.provide(withEnv({
          HTTP_DEFAULT_RETRY_MAX_ATTEMPTS: "4",
          HTTP_DEFAULT_ATTEMPT_TIMEOUT: "5 seconds",
          HTTP_CLAUDE_API_RETRY_MAX_ATTEMPTS: "8",
          HTTP_CLAUDE_API_ATTEMPT_TIMEOUT: "off"
        }))
      )
    )))

  it.effect("layerConfig: a bad value is a ConfigError naming the variable", () =>
    Effect.gen(function*() {
      const refused = (env: Record<string, string>) =>
        Effect.flip(Layer.build(
          ResilientClients.layerConfig({ names: ["claude_api"] }).pipe(
            Layer.provide(FetchHttpClient.layer),
            Layer.provide(withEnv(env))
          )
        )).pipe(Effect.map(String))
      expect(yield* refused({ HTTP_CLAUDE_API_RETRY_MAX_ATTEMPTS: "0" })).toContain(
        "HTTP.CLAUDE_API.RETRY.MAX_ATTEMPTS"
      )
      expect(yield* refused({ HTTP_DEFAULT_RETRY_JITTER: "lots" })).toContain("HTTP.DEFAULT.RETRY.JITTER")
      expect(yield* refused({ HTTP_CLAUDE_API_ATTEMPT_TIMEOUT: "-5 seconds" })).toContain(
        "HTTP.CLAUDE_API.ATTEMPT_TIMEOUT"
      )
      expect(yield* refused({ HTTP_DEFAULT_RETRY_MAX_ATTEMPTS: "many" })).toContain("MAX_ATTEMPTS")
    }).pipe(Effect.scoped))
})
