import * as Policy from "@bulwark/core/Policy"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, FastCheck as fc, Layer } from "effect"
import * as GitHub from "../src/GitHub.js"
import * as GitHubAppToken from "../src/GitHubAppToken.js"
import type { PolicyOptions } from "../src/internal/config.js"
import { mergePolicy } from "../src/internal/options.js"
import * as Llm from "../src/Llm.js"
import * as Ollama from "../src/Ollama.js"
import * as Orpheus from "../src/Orpheus.js"
import { app as keys } from "./utils/keys.js"

const retryOverride = fc.record({
  maxAttempts: fc.integer({ min: 1, max: 9 }),
  base: fc.constantFrom("1 millis", "2 seconds"),
  maxDelay: fc.constantFrom("1 minute", "3 minutes"),
  jitter: fc.constantFrom("none" as const, "full" as const)
}, { requiredKeys: [] })

const breakerOverride = fc.record({
  openDuration: fc.constantFrom("1 second", "5 minutes"),
  maxProbes: fc.integer({ min: 1, max: 4 })
}, { requiredKeys: [] })

const overrides = fc.record({
  retry: retryOverride,
  circuitBreaker: breakerOverride,
  attemptTimeout: fc.constantFrom("1 second", "2 minutes")
}, { requiredKeys: [] })

const clientDefaults = [Orpheus.defaults.policy, Llm.defaults.policy, GitHub.defaults.policy, Ollama.defaults.policy]

describe("mergePolicy", () => {
  it.prop(
    "every default field the override does not name survives; every named one is the override's",
    [fc.constantFrom(...clientDefaults), overrides],
    ([defaults, over]) => {
      const merged = mergePolicy(defaults as PolicyOptions, over as PolicyOptions) as Record<string, unknown>
      const base = defaults as Record<string, unknown>
      for (const [layer, value] of Object.entries(base)) {
        const own = (over as Record<string, unknown>)[layer]
        if (own === undefined) {
          expect(merged[layer]).toBe(value)
        } else if (typeof own === "object" && typeof value === "object" && value !== null) {
          expect(merged[layer]).toEqual({ ...value, ...own })
        } else {
          expect(merged[layer]).toBe(own)
        }
      }
      for (const [layer, own] of Object.entries(over)) {
        if (!(layer in base)) expect(merged[layer]).toEqual(own)
      }
    }
  )

  it.effect("false removes a layer or every layer; a built policy replaces all", () =>
    Effect.gen(function*() {
      expect(mergePolicy(Llm.defaults.policy, { retry: false }).retry).toBe(false)
      expect(mergePolicy(Llm.defaults.policy, { retry: false }).attemptTimeout).toBe("30 seconds")
      expect(mergePolicy(Llm.defaults.policy, false)).toEqual({})
      const built = yield* Policy.make({ service: "x" })
      expect(mergePolicy(Llm.defaults.policy, built)).toBe(built)
      // a duration is a value, not options to merge into
      const merged = mergePolicy({ attemptTimeout: Duration.seconds(5) }, { attemptTimeout: Duration.seconds(1) })
      expect(merged.attemptTimeout).toEqual(Duration.seconds(1))
    }))

  it.effect("every client keeps the seed's retry fields when one is overridden", () =>
    Effect.gen(function*() {
      const llm = yield* Llm.make({ policy: { retry: { maxAttempts: 2 } } })
      expect(llm.policy.layers.retry).toMatchObject({ maxAttempts: 2, retryAfter: "floor" })
      const github = yield* GitHub.make({ policy: { retry: { maxAttempts: 2 } } }).pipe(
        Effect.provideService(GitHubAppToken.GitHubAppToken, {} as GitHubAppToken.Service)
      )
      expect(github.policy.layers.retry).toMatchObject({ maxAttempts: 2, rateLimitedAttempts: "free" })
      expect(github.policy.layers.retry?.maxRetryAfterMillis).toBe(2 * 60 * 60 * 1000)
      const orpheus = yield* Orpheus.make({ policy: { retry: { maxAttempts: 2 } } })
      expect(orpheus.clients.base.policy.layers.retry).toMatchObject({ maxAttempts: 2, retryAfter: "override" })
      const ollama = yield* Ollama.make({ policy: { retry: { maxAttempts: 2 } } })
      expect(ollama.client.policy.layers.retry?.maxAttempts).toBe(2)
      expect(ollama.client.policy.layers.retry?.retryOn).toBe(Ollama.isRetryable)
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})

/** Runs `self` with `env` as the environment (`_` between path segments). */
const withEnv = (env: Record<string, string>) => <A, E>(self: Layer.Layer<A, E, never>) =>
  self.pipe(
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" })))
  )

const built = <I, S, E>(tag: { readonly key: string } & Effect.Effect<S, never, I>, layer: Layer.Layer<I, E, never>) =>
  Effect.either(Effect.provide(tag, layer))

describe("layerConfig: a variable that is set wins over the options given in code", () => {
  it.effect("Orpheus", () =>
    Effect.gen(function*() {
      const layer = Orpheus.layerConfig({ urls: { base: "http://code:1" }, policy: { retry: { maxAttempts: 2 } } })
        .pipe(
          Layer.provide(FetchHttpClient.layer),
          withEnv({ ORPHEUS_BASE_URL: "http://env:1", ORPHEUS_RETRY_MAX_ATTEMPTS: "7" })
        )
      const orpheus = Either.getOrThrow(yield* built(Orpheus.Orpheus, layer))
      expect(orpheus.urls.base).toBe("http://env:1")
      expect(orpheus.clients.base.policy.layers.retry?.maxAttempts).toBe(7)
    }))

  it.effect("Llm", () =>
    Effect.gen(function*() {
      const layer = Llm.layerConfig({ model: "code-model", policy: { retry: { maxAttempts: 2 } } }).pipe(
        Layer.provide(FetchHttpClient.layer),
        withEnv({ LLM_MODEL: "env-model", LLM_RETRY_MAX_ATTEMPTS: "7" })
      )
      const llm = Either.getOrThrow(yield* built(Llm.Llm, layer))
      expect(llm.model).toBe("env-model")
      expect(llm.policy.layers.retry?.maxAttempts).toBe(7)
      expect(llm.policy.layers.retry?.retryAfter).toBe("floor")
    }))

  it.effect("GitHub", () =>
    Effect.gen(function*() {
      const layer = GitHub.optionsConfig({ apiUrl: "http://code:1", policy: { retry: { maxAttempts: 2 } } })
      const options = yield* layer.pipe(
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["GITHUB_API_URL", "http://env:1"], ["GITHUB_RETRY_MAX_ATTEMPTS", "7"]]), {
            pathDelim: "_"
          })
        )
      )
      expect(options.apiUrl).toBe("http://env:1")
      expect(options.policy).toMatchObject({ retry: { maxAttempts: 7, rateLimitedAttempts: "free" } })
    }))

  it.effect("Ollama", () =>
    Effect.gen(function*() {
      const layer = Ollama.layerConfig({
        baseUrl: "http://code:1",
        policy: { retry: { maxAttempts: 2 } },
        timeouts: { small: "1 minute", byModel: { "a:1b": "2 minutes", "b:1b": "3 minutes" } }
      }).pipe(
        Layer.provide(FetchHttpClient.layer),
        withEnv({
          OLLAMA_HOST: "env:1",
          OLLAMA_RETRY_MAX_ATTEMPTS: "7",
          OLLAMA_TIMEOUT_SMALL: "20 seconds",
          OLLAMA_MODEL_TIMEOUTS: "a:1b=4 minutes"
        })
      )
      const ollama = Either.getOrThrow(yield* built(Ollama.Ollama, layer))
      expect(ollama.baseUrl).toBe("http://env:1")
      expect(ollama.client.policy.layers.retry?.maxAttempts).toBe(7)
      expect(Duration.toMillis(ollama.timeoutFor("qwen:7b")!)).toBe(20_000)
      expect(Duration.toMillis(ollama.timeoutFor("a:1b")!)).toBe(240_000)
      expect(Duration.toMillis(ollama.timeoutFor("b:1b")!)).toBe(180_000)
      // without the variables, the code's options
      const coded = Either.getOrThrow(
        yield* built(
          Ollama.Ollama,
          Ollama.layerConfig({ baseUrl: "http://code:1", policy: { retry: { maxAttempts: 2 } } }).pipe(
            Layer.provide(FetchHttpClient.layer),
            withEnv({})
          )
        )
      )
      expect(coded.baseUrl).toBe("http://code:1")
      expect(coded.client.policy.layers.retry?.maxAttempts).toBe(2)
    }))
})

describe("layerConfig: a value the policy refuses is a ConfigError naming the variable", () => {
  it.scoped("Llm and GitHub", () =>
    Effect.gen(function*() {
      const llm = yield* built(
        Llm.Llm,
        Llm.layerConfig().pipe(Layer.provide(FetchHttpClient.layer), withEnv({ LLM_TIMEOUT: "10 minutes" }))
      )
      expect(String(Either.flip(llm).pipe(Either.getOrThrow))).toContain("LLM.TIMEOUT")
      const app = { GITHUB_APP_ID: "42", GITHUB_INSTALLATION_ID: "1", GITHUB_PRIVATE_KEY: keys.privateKey }
      const github = (env: Record<string, string>) =>
        Effect.either(Effect.provide(
          GitHub.GitHub,
          GitHub.layerConfig().pipe(Layer.provide(FetchHttpClient.layer), withEnv({ ...app, ...env }))
        ))
      expect(Either.isRight(yield* github({}))).toBe(true)
      const refused = Either.flip(yield* github({ GITHUB_TOTAL_TIMEOUT: "1 second" })).pipe(Either.getOrThrow)
      expect(refused._tag).toBe("ConfigError")
      expect(String(refused)).toContain("GITHUB.TOTAL_TIMEOUT")
    }))
})
