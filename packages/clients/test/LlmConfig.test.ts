import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Redacted } from "effect"
import * as Llm from "../src/Llm.js"

const load = (env: Record<string, string>, overrides: Llm.Options = {}) =>
  Effect.withConfigProvider(
    Effect.either(Llm.optionsConfig(overrides)),
    ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" })
  )

const valid: Array<[string, string, (options: Llm.Options) => unknown, unknown]> = [
  ["LLM_API_KEY", "sk-abc", (o) => o.apiKey && Redacted.value(o.apiKey), "sk-abc"],
  ["LLM_BASE_URL", "http://127.0.0.1:11434/v1/", (o) => o.baseUrl, "http://127.0.0.1:11434/v1"],
  ["LLM_MODEL", "glm-4.6", (o) => o.model, "glm-4.6"],
  ["LLM_MIN_REQUEST_INTERVAL", "250 millis", (o) => policyOf(o).rateLimiter, { spacing: Duration.millis(250) }],
  ["LLM_MIN_REQUEST_INTERVAL", "off", (o) => policyOf(o).rateLimiter, false],
  ["LLM_RETRY_MAX_ATTEMPTS", "3", (o) => policyOf(o).retry.maxAttempts, 3],
  ["LLM_RETRY_BASE_DELAY", "2 seconds", (o) => policyOf(o).retry.base, Duration.seconds(2)],
  ["LLM_RETRY_MAX_DELAY", "30 seconds", (o) => policyOf(o).retry.maxDelay, Duration.seconds(30)],
  ["LLM_TIMEOUT", "10 seconds", (o) => policyOf(o).attemptTimeout, Duration.seconds(10)],
  ["LLM_TOTAL_TIMEOUT", "off", (o) => policyOf(o).totalTimeout, false],
  ["LLM_BREAKER_FAILURE_THRESHOLD", "7", (o) => policyOf(o).circuitBreaker.trip, {
    _tag: "ConsecutiveFailures",
    threshold: 7
  }],
  ["LLM_BREAKER_OPEN_DURATION", "5 seconds", (o) => policyOf(o).circuitBreaker.openDuration, Duration.seconds(5)]
]

const invalid: Array<[string, string]> = [
  ["LLM_API_KEY", "  "],
  ["LLM_BASE_URL", "ftp://example.com"],
  ["LLM_MODEL", " "],
  ["LLM_MIN_REQUEST_INTERVAL", "fast"],
  ["LLM_RETRY_MAX_ATTEMPTS", "0"],
  ["LLM_RETRY_BASE_DELAY", "-1 seconds"],
  ["LLM_RETRY_MAX_DELAY", "a minute"],
  ["LLM_TIMEOUT", "soon"],
  ["LLM_TOTAL_TIMEOUT", "30"],
  ["LLM_BREAKER_FAILURE_THRESHOLD", "0"],
  ["LLM_BREAKER_OPEN_DURATION", "later"]
]

const policyOf = (options: Llm.Options) => options.policy as any

describe("Llm.optionsConfig", () => {
  it.effect("nothing set: the seed's defaults, no key", () =>
    Effect.gen(function*() {
      const options = yield* Effect.flatten(load({}))
      expect(options.apiKey).toBeUndefined()
      expect(options.baseUrl).toBeUndefined()
      expect(policyOf(options)).toMatchObject({
        retry: { maxAttempts: 5, base: "1 second", maxDelay: "60 seconds", jitter: "full" },
        attemptTimeout: "30 seconds",
        rateLimiter: { spacing: "100 millis" }
      })
    }))

  it.effect.each(valid)("%s=%s is read", ([name, value, read, expected]) =>
    Effect.gen(function*() {
      const options = yield* Effect.flatten(load({ [name]: value }))
      expect(read(options)).toEqual(expected)
    }))

  it.effect.each(invalid)("%s=%s is a ConfigError naming the variable", ([name, value]) =>
    Effect.gen(function*() {
      const result = yield* load({ [name]: value })
      expect(result._tag).toBe("Left")
      if (result._tag === "Left") expect(String(result.left)).toContain(`LLM.${name.slice(4)}`)
    }))

  it.effect("the key is Redacted: its text is in no rendering of the options", () =>
    Effect.gen(function*() {
      const options = yield* Effect.flatten(load({ LLM_API_KEY: "sk-very-secret" }))
      expect(String(options.apiKey)).not.toContain("sk-very-secret")
      expect(JSON.stringify(options)).not.toContain("sk-very-secret")
    }))

  it.effect("layerConfig fails at construction with the ConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.withConfigProvider(
          Effect.provide(Llm.Llm, Llm.layerConfig()),
          ConfigProvider.fromMap(new Map([["LLM_RETRY_MAX_ATTEMPTS", "zero"]]), { pathDelim: "_" })
        ).pipe(Effect.provide(FetchHttpClient.layer))
      )
      expect(String(error)).toContain("RETRY_MAX_ATTEMPTS")
    }))
})
