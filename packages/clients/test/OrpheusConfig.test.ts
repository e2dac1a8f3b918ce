import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Layer } from "effect"
import * as Orpheus from "../src/Orpheus.js"

const build = (env: Record<string, string>, options: Orpheus.Options = {}) =>
  Effect.runSync(Effect.either(
    Effect.provide(
      Orpheus.Orpheus,
      Orpheus.layerConfig(options).pipe(
        Layer.provide(FetchHttpClient.layer),
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" })))
      )
    )
  ))

const valid: Array<[string, string, (service: Orpheus.Service) => unknown, unknown]> = [
  ["ORPHEUS_BASE_URL", "http://gpu:9000/", (s) => s.urls.base, "http://gpu:9000"],
  ["ORPHEUS_CLASSIFIER_URL", "http://gpu:9001", (s) => s.urls.classifier, "http://gpu:9001"],
  ["ORPHEUS_BRIDGE_URL", "http://gpu:9002", (s) => s.urls.bridge, "http://gpu:9002"],
  ["ORPHEUS_LOOPS_URL", "https://gpu:9003", (s) => s.urls.loops, "https://gpu:9003"],
  ["ORPHEUS_CHILDREN_URL", "http://gpu:9004", (s) => s.urls.children, "http://gpu:9004"],
  ["ORPHEUS_MONO_URL", "http://gpu:9005", (s) => s.urls.mono_melodies, "http://gpu:9005"],
  ["ORPHEUS_BUSY_RETRY_AFTER", "2 seconds", () => "built", "built"],
  ["ORPHEUS_RETRY_MAX_ATTEMPTS", "7", (s) => s.clients.base.policy.layers.retry?.maxAttempts, 7],
  ["ORPHEUS_RETRY_BASE_DELAY", "2 seconds", () => "built", "built"],
  ["ORPHEUS_RETRY_MAX_DELAY", "1 minute", () => "built", "built"],
  ["ORPHEUS_TIMEOUT", "10 minutes", (s) => s.clients.bridge.policy.layers.attemptTimeout?.after, Duration.minutes(10)],
  ["ORPHEUS_TOTAL_TIMEOUT", "off", (s) => s.clients.base.policy.layers.totalTimeout, undefined],
  ["ORPHEUS_BREAKER_FAILURE_THRESHOLD", "3", () => "built", "built"],
  ["ORPHEUS_BREAKER_OPEN_DURATION", "30 seconds", () => "built", "built"]
]

const invalid: Array<[string, string]> = [
  ["ORPHEUS_BASE_URL", "ftp://gpu"],
  ["ORPHEUS_CLASSIFIER_URL", "not a url"],
  ["ORPHEUS_BRIDGE_URL", ""],
  ["ORPHEUS_LOOPS_URL", "gpu:9003"],
  ["ORPHEUS_CHILDREN_URL", "mailto:x@y"],
  ["ORPHEUS_MONO_URL", "http//gpu"],
  ["ORPHEUS_BUSY_RETRY_AFTER", "-5 seconds"],
  ["ORPHEUS_RETRY_MAX_ATTEMPTS", "0"],
  ["ORPHEUS_RETRY_BASE_DELAY", "soon"],
  ["ORPHEUS_RETRY_MAX_DELAY", "60"],
  ["ORPHEUS_TIMEOUT", "forever"],
  ["ORPHEUS_TOTAL_TIMEOUT", "NaN seconds"],
  ["ORPHEUS_BREAKER_FAILURE_THRESHOLD", "1.5"],
  ["ORPHEUS_BREAKER_OPEN_DURATION", "never"]
]

describe("Orpheus.layerConfig", () => {
  it("without variables: the fact sheet's ports and the seed's policy", () => {
    const built = Either.getOrThrow(build({}))
    expect(built.urls).toEqual(Orpheus.defaults.urls)
    expect(built.clients.base.service).toBe("orpheus-base")
    const { retry } = built.clients.base.policy.layers
    expect(retry?.maxAttempts).toBe(3)
    expect(retry?.retryAfter).toBe("override")
    expect(retry?.rateLimitedAttempts).toBe("free")
    expect(built.clients.base.policy.layers.attemptTimeout?.after).toEqual(Duration.seconds(300))
  })

  it.each(valid)("%s=%s is read", (name, value, read, expected) => {
    const built = build({ [name]: value })
    expect(Either.isRight(built), String(Either.isLeft(built) && built.left)).toBe(true)
    expect(read(Either.getOrThrow(built))).toEqual(expected)
  })

  it.each(invalid)("%s=%s is a ConfigError naming the variable", (name, value) => {
    const built = build({ [name]: value })
    expect(Either.isLeft(built)).toBe(true)
    expect(String(Either.flip(built).pipe(Either.getOrThrow))).toContain(name.replace("ORPHEUS_", "ORPHEUS."))
  })

  it("a timeout longer than the total deadline is an InvalidPolicy", () => {
    const built = build({ ORPHEUS_TIMEOUT: "20 minutes" })
    expect(Either.isLeft(built) && built.left._tag).toBe("InvalidPolicy")
  })

  it("variables win over the options given in code", () => {
    const built = build({ ORPHEUS_BASE_URL: "http://env:1" }, {
      urls: { base: "http://code:1", loops: "http://code:3" }
    })
    const { urls } = Either.getOrThrow(built)
    expect([urls.base, urls.loops, urls.bridge]).toEqual(["http://env:1", "http://code:3", "http://127.0.0.1:2002"])
  })
})
