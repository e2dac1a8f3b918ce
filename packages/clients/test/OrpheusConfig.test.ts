import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Layer } from "effect"
import * as Resolve from "../src/internal/orpheusOptions.js"
import * as Orpheus from "../src/Orpheus.js"
import { delays } from "./utils/backoff.js"

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

/** Each jittered delay's cap, read from the largest of 400 seeded draws (rounded up to a second). */
const jitterCaps = (service: Orpheus.Service) => {
  const draws = Array.from({ length: 400 }, (_, seed) => Effect.runSync(delays(service.clients.base.policy, 8, seed)))
  const steps = draws[0]!.length
  const caps = Array.from({ length: steps }, (_, n) => Math.ceil(Math.max(...draws.map((d) => d[n]!)) / 1000) * 1000)
  return caps.filter((cap, n) => n === 0 || cap !== caps[n - 1])
}

const thresholds = (service: Orpheus.Service) =>
  service.clients.base.policy.layers.circuitBreaker?.settings.trip.map((trip) =>
    "threshold" in trip ? trip.threshold : trip._tag
  )

/** The busy wait read from the environment (the built service does not show it). */
const busyWait = (env: Record<string, string>) =>
  Effect.runSync(
    Effect.withConfigProvider(
      Resolve.fromEnv(
        {} as Orpheus.Options,
        Orpheus.defaults,
        Orpheus.configKeys,
        Object.keys(Orpheus.defaults.urls) as Array<any>
      ),
      ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" })
    )
  ).busyRetryAfter

const valid: Array<[string, string, (service: Orpheus.Service) => unknown, unknown]> = [
  ["ORPHEUS_BASE_URL", "http://gpu:9000/", (s) => s.urls.base, "http://gpu:9000"],
  ["ORPHEUS_CLASSIFIER_URL", "http://gpu:9001", (s) => s.urls.classifier, "http://gpu:9001"],
  ["ORPHEUS_BRIDGE_URL", "http://gpu:9002", (s) => s.urls.bridge, "http://gpu:9002"],
  ["ORPHEUS_LOOPS_URL", "https://gpu:9003", (s) => s.urls.loops, "https://gpu:9003"],
  ["ORPHEUS_CHILDREN_URL", "http://gpu:9004", (s) => s.urls.children, "http://gpu:9004"],
  ["ORPHEUS_MONO_URL", "http://gpu:9005", (s) => s.urls.mono_melodies, "http://gpu:9005"],
  [
    "ORPHEUS_BUSY_RETRY_AFTER",
    "2 seconds",
    () => busyWait({ ORPHEUS_BUSY_RETRY_AFTER: "2 seconds" }),
    Duration.seconds(2)
  ],
  ["ORPHEUS_RETRY_MAX_ATTEMPTS", "7", (s) => s.clients.base.policy.layers.retry?.maxAttempts, 7],
  // full jitter: the largest of many draws comes close to each cap, 2 s doubling
  ["ORPHEUS_RETRY_BASE_DELAY", "2 seconds", (s) => jitterCaps(s), [2, 4, 8, 16, 30].map((n) => n * 1000)],
  ["ORPHEUS_RETRY_MAX_DELAY", "1 minute", (s) => jitterCaps(s), [1, 2, 4, 8, 16, 32, 60].map((n) => n * 1000)],
  ["ORPHEUS_TIMEOUT", "10 minutes", (s) => s.clients.bridge.policy.layers.attemptTimeout?.after, Duration.minutes(10)],
  ["ORPHEUS_TOTAL_TIMEOUT", "off", (s) => s.clients.base.policy.layers.totalTimeout, undefined],
  ["ORPHEUS_BREAKER_FAILURE_THRESHOLD", "3", (s) => thresholds(s), [3]],
  [
    "ORPHEUS_BREAKER_OPEN_DURATION",
    "30 seconds",
    (s) => s.clients.loops.policy.layers.circuitBreaker?.settings.openDuration,
    30_000
  ]
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

  it("a timeout longer than the total deadline is a ConfigError naming the variable set", () => {
    const built = Either.flip(build({ ORPHEUS_TIMEOUT: "20 minutes" })).pipe(Either.getOrThrow)
    expect(built._tag).toBe("ConfigError")
    expect(String(built)).toContain("ORPHEUS.TIMEOUT")
    const total = Either.flip(build({ ORPHEUS_TOTAL_TIMEOUT: "1 minute" })).pipe(Either.getOrThrow)
    expect(String(total)).toContain("ORPHEUS.TOTAL_TIMEOUT")
    // the same refusal from options given in code stays an InvalidPolicy
    const coded = Either.flip(build({}, { policy: { attemptTimeout: "20 minutes" } })).pipe(Either.getOrThrow)
    expect(coded._tag).toBe("InvalidPolicy")
  })

  it("variables win over the options given in code", () => {
    const built = build({ ORPHEUS_BASE_URL: "http://env:1" }, {
      urls: { base: "http://code:1", loops: "http://code:3" }
    })
    const { urls } = Either.getOrThrow(built)
    expect([urls.base, urls.loops, urls.bridge]).toEqual(["http://env:1", "http://code:3", "http://127.0.0.1:2002"])
  })
})
