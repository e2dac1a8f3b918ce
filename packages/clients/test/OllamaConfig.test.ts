import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, FastCheck as fc, Layer } from "effect"
import { parseHost } from "../src/internal/ollamaHost.js"
import * as Ollama from "../src/Ollama.js"
import { delaysSync } from "./utils/backoff.js"

/** Builds the client from `env` (OLLAMA_… variables), or the ConfigError / InvalidPolicy. */
const fromEnv = (env: Record<string, string>) =>
  Effect.either(Ollama.Ollama.pipe(
    Effect.provide(Ollama.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))
  ))

const service = (env: Record<string, string>) =>
  Effect.flatMap(
    fromEnv(env),
    (result) => Either.isRight(result) ? Effect.succeed(result.right) : Effect.dieMessage(String(result.left))
  )

const failure = (env: Record<string, string>) =>
  Effect.map(fromEnv(env), (result) => (Either.isLeft(result) ? String(result.left) : "built"))

const millis = (duration: Duration.Duration | undefined) =>
  duration === undefined ? undefined : Duration.toMillis(duration)

describe("Ollama config", () => {
  it.effect("defaults: Ollama's address and the seed's numbers", () =>
    Effect.gen(function*() {
      const ollama = yield* service({})
      expect(ollama.baseUrl).toBe("http://127.0.0.1:11434")
      const { layers } = ollama.client.policy
      expect(layers.retry?.maxAttempts).toBe(4)
      expect(millis(layers.attemptTimeout?.after)).toBe(300_000)
      expect(layers.circuitBreaker).toBeUndefined()
      expect(layers.totalTimeout).toBeUndefined()
      expect(millis(ollama.timeoutFor("qwen2.5-coder:7b"))).toBe(180_000)
      expect(millis(ollama.timeoutFor("qwen2.5-coder:32b"))).toBe(300_000)
      expect(millis(ollama.timeoutFor("codellama:70b"))).toBe(600_000)
      expect(millis(ollama.timeoutFor("mistral"))).toBe(300_000)
    }))

  it.effect("OLLAMA_HOST: host:port, bare host, full URLs; garbage is a ConfigError naming it", () =>
    Effect.gen(function*() {
      expect((yield* service({ OLLAMA_HOST: "127.0.0.1:11434" })).baseUrl).toBe("http://127.0.0.1:11434")
      expect((yield* service({ OLLAMA_HOST: "llm-server" })).baseUrl).toBe("http://llm-server:11434")
      expect((yield* service({ OLLAMA_HOST: "http://llm-server:8080/" })).baseUrl).toBe("http://llm-server:8080")
      expect((yield* service({ OLLAMA_HOST: "https://ollama.example/proxy" })).baseUrl).toBe(
        "https://ollama.example/proxy"
      )
      expect(yield* failure({ OLLAMA_HOST: "llm-server:99999" })).toContain("HOST")
      expect(yield* failure({ OLLAMA_HOST: "ftp://llm-server" })).toContain("HOST")
    }))

  it.effect("timeouts: OLLAMA_TIMEOUT, _SMALL, _LARGE and MODEL_TIMEOUTS, each checked", () =>
    Effect.gen(function*() {
      const ollama = yield* service({
        OLLAMA_TIMEOUT: "400 seconds",
        OLLAMA_TIMEOUT_SMALL: "1 minute",
        OLLAMA_TIMEOUT_LARGE: "15 minutes",
        OLLAMA_MODEL_TIMEOUTS: "codellama:70b=20 minutes, mistral=5 seconds"
      })
      expect(millis(ollama.timeoutFor("gemma:27b"))).toBe(400_000)
      expect(millis(ollama.timeoutFor("llama3.2:3b"))).toBe(60_000)
      expect(millis(ollama.timeoutFor("llama3.1:405b"))).toBe(900_000)
      expect(millis(ollama.timeoutFor("codellama:70b"))).toBe(1_200_000)
      expect(millis(ollama.timeoutFor("mistral:latest"))).toBe(5_000)
      expect(millis((yield* service({ OLLAMA_TIMEOUT: "off" })).timeoutFor("mistral"))).toBeUndefined()
      expect(yield* failure({ OLLAMA_TIMEOUT: "soon" })).toContain("TIMEOUT")
      expect(yield* failure({ OLLAMA_TIMEOUT_SMALL: "-5 seconds" })).toContain("TIMEOUT_SMALL")
      expect(yield* failure({ OLLAMA_TIMEOUT_LARGE: "ten minutes" })).toContain("TIMEOUT_LARGE")
      expect(yield* failure({ OLLAMA_MODEL_TIMEOUTS: "codellama:70b" })).toContain("MODEL_TIMEOUTS")
      expect(yield* failure({ OLLAMA_MODEL_TIMEOUTS: "x=forever" })).toContain("MODEL_TIMEOUTS")
    }))

  it.effect("retry and total timeout variables", () =>
    Effect.gen(function*() {
      const ollama = yield* service({
        OLLAMA_RETRY_MAX_ATTEMPTS: "11",
        OLLAMA_RETRY_BASE_DELAY: "1 second",
        OLLAMA_RETRY_MAX_DELAY: "2 minutes",
        OLLAMA_TOTAL_TIMEOUT: "30 minutes"
      })
      expect(ollama.client.policy.layers.retry?.maxAttempts).toBe(11)
      // no jitter: 1 s doubling, capped at the 2 minutes read
      expect(delaysSync(ollama.client.policy, 9)).toEqual([1, 2, 4, 8, 16, 32, 64, 120, 120].map((s) => s * 1000))
      expect(millis(ollama.client.policy.layers.totalTimeout?.after)).toBe(1_800_000)
      expect(yield* failure({ OLLAMA_RETRY_MAX_ATTEMPTS: "0" })).toContain("RETRY_MAX_ATTEMPTS")
      expect(yield* failure({ OLLAMA_RETRY_BASE_DELAY: "fast" })).toContain("RETRY_BASE_DELAY")
      expect(yield* failure({ OLLAMA_RETRY_MAX_DELAY: "1" })).toContain("RETRY_MAX_DELAY")
      expect(yield* failure({ OLLAMA_TOTAL_TIMEOUT: "never" })).toContain("TOTAL_TIMEOUT")
      // values the policy refuses are ConfigErrors naming the variable that was set
      expect(yield* failure({ OLLAMA_TOTAL_TIMEOUT: "1 minute" })).toContain("OLLAMA.TOTAL_TIMEOUT")
      expect(yield* failure({ OLLAMA_TIMEOUT_SMALL: "0 seconds" })).toContain("OLLAMA.TIMEOUT_SMALL")
      expect(yield* failure({ OLLAMA_MODEL_TIMEOUTS: "x=0 seconds" })).toContain("OLLAMA.MODEL_TIMEOUTS")
      expect(yield* failure({ OLLAMA_TIMEOUT: "2 hours", OLLAMA_TOTAL_TIMEOUT: "1 hour" })).toContain(
        "OLLAMA.TIMEOUT:"
      )
    }))

  it.effect("a BREAKER_ variable turns a breaker on; a bad one is a ConfigError", () =>
    Effect.gen(function*() {
      const ollama = yield* service({ OLLAMA_BREAKER_FAILURE_THRESHOLD: "3" })
      expect(ollama.client.policy.layers.circuitBreaker?.settings.trip).toMatchObject([
        { _tag: "ConsecutiveFailures", threshold: 3 }
      ])
      const timed = yield* service({ OLLAMA_BREAKER_OPEN_DURATION: "30 seconds" })
      expect(timed.client.policy.layers.circuitBreaker?.settings.openDuration).toBe(30_000)
      expect(yield* failure({ OLLAMA_BREAKER_FAILURE_THRESHOLD: "none" })).toContain("BREAKER_FAILURE_THRESHOLD")
      expect(yield* failure({ OLLAMA_BREAKER_OPEN_DURATION: "1" })).toContain("BREAKER_OPEN_DURATION")
    }))

  it.effect("make refuses bad options with InvalidPolicy naming the field", () =>
    Effect.gen(function*() {
      const bad = (options: Ollama.Options) =>
        Effect.flip(Ollama.make(options)).pipe(Effect.provide(FetchHttpClient.layer), Effect.map((e) => e.field))
      expect(yield* bad({ baseUrl: "ftp://x" })).toBe("baseUrl")
      expect(yield* bad({ timeouts: { small: "0 millis" } })).toBe("timeouts.small")
      expect(yield* bad({ timeouts: { byModel: { "codellama:70b": -1 } } })).toBe("timeouts.byModel.codellama:70b")
      expect(yield* bad({ policy: { retry: { maxAttempts: 0 } } })).toBe("maxAttempts")
    }))
})

const sizedName = fc.record({
  family: fc.constantFrom("llama3.2", "qwen2.5-coder", "codellama", "deepseek-r1", "mixtral"),
  billions: fc.integer({ min: 1, max: 500 }),
  suffix: fc.constantFrom("", "-instruct", "-instruct-q4_K_M", "-fp16")
})

describe("the model-size rule", () => {
  it.prop("the size read from the name is the size written in it", [sizedName], ([{ billions, family, suffix }]) => {
    expect(Ollama.parameterSize(`${family}:${billions}b${suffix}`)).toBe(billions)
    expect(Ollama.parameterSize(`${family}:8x${billions}b${suffix}`)).toBe(8 * billions)
  })

  it.prop(
    "a bigger model never gets a shorter timeout; byModel always wins",
    [sizedName, fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 3_600_000 })],
    ([{ billions, family, suffix }, other, own]) =>
      Effect.runSync(
        Effect.gen(function*() {
          const ollama = yield* Ollama.make({ timeouts: { byModel: { [`${family}:${billions}b${suffix}`]: own } } })
          const [small, large] = billions <= other ? [billions, other] : [other, billions]
          const defaults = yield* Ollama.make()
          const of = (b: number) => millis(defaults.timeoutFor(`${family}:${b}b${suffix}`))!
          expect(of(small)).toBeLessThanOrEqual(of(large))
          expect(of(small)).toBe(small < 13 ? 180_000 : small >= 70 ? 600_000 : 300_000)
          expect(millis(ollama.timeoutFor(`${family}:${billions}b${suffix}`))).toBe(own)
        }).pipe(Effect.provide(FetchHttpClient.layer))
      )
  )

  it("names without a size get the default; m is millions", () => {
    expect(Ollama.parameterSize("mistral:latest")).toBeUndefined()
    expect(Ollama.parameterSize("llama3.2")).toBeUndefined()
    expect(Ollama.parameterSize("qwen2.5-coder:1.5b")).toBe(1.5)
    expect(Ollama.parameterSize("smollm:135m")).toBe(0.135)
    expect(Ollama.modelSizeClass("smollm:135m")).toBe("small")
    expect(Ollama.modelSizeClass("qwen2.5-coder:13b")).toBe("medium")
    expect(Ollama.modelSizeClass("llama3.3:70b")).toBe("large")
    expect(Ollama.modelSizeClass("mistral")).toBe("unknown")
  })

  it.prop(
    "OLLAMA_HOST: any host:port is http on that port; a bare host gets 11434",
    [fc.domain(), fc.integer({ min: 1, max: 65535 })],
    ([host, port]) => {
      expect(parseHost(`${host}:${port}`)).toEqual(Either.right(new URL(`http://${host}:${port}`).origin))
      expect(parseHost(host)).toEqual(Either.right(`http://${host}:11434`))
      expect(parseHost(`https://${host}`)).toEqual(Either.right(`https://${host}`))
    }
  )
})
