import { describe, expect, it } from "@effect/vitest"
import { Config as EffectConfig, ConfigProvider, Duration, Effect, Either } from "effect"
import * as Config from "../src/internal/config.js"

const read = <A>(config: EffectConfig.Config<A>, env: Record<string, string>) =>
  Effect.runSync(Effect.either(
    Effect.withConfigProvider(config, ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))
  ))

const defaults: Config.PolicyOptions = {
  retry: { maxAttempts: 3, base: "1 second" },
  circuitBreaker: { openDuration: "60 seconds" },
  attemptTimeout: "30 seconds"
}

const policy = (env: Record<string, string>) => read(Config.policy(defaults).pipe(EffectConfig.nested("SVC")), env)

describe("client config", () => {
  it("keeps the defaults when nothing is set, and lays every variable over them", () => {
    expect(policy({})).toEqual(Either.right(defaults))
    const set = policy({
      SVC_RETRY_MAX_ATTEMPTS: "5",
      SVC_RETRY_BASE_DELAY: "2 seconds",
      SVC_RETRY_MAX_DELAY: "1 minute",
      SVC_TIMEOUT: "off",
      SVC_TOTAL_TIMEOUT: "10 minutes",
      SVC_BREAKER_FAILURE_THRESHOLD: "3",
      SVC_BREAKER_OPEN_DURATION: "500 millis"
    })
    expect(set).toEqual(Either.right({
      retry: { maxAttempts: 5, base: Duration.seconds(2), maxDelay: Duration.minutes(1) },
      circuitBreaker: {
        openDuration: Duration.millis(500),
        trip: { _tag: "ConsecutiveFailures", threshold: 3 }
      },
      attemptTimeout: false,
      totalTimeout: Duration.minutes(10)
    }))
  })

  it.each([
    ["SVC_RETRY_MAX_ATTEMPTS", "0"],
    ["SVC_RETRY_MAX_ATTEMPTS", "three"],
    ["SVC_RETRY_BASE_DELAY", "-5 seconds"],
    ["SVC_RETRY_MAX_DELAY", "soon"],
    ["SVC_TIMEOUT", "NaN seconds"],
    ["SVC_TOTAL_TIMEOUT", "forever"],
    ["SVC_BREAKER_FAILURE_THRESHOLD", "1.5"],
    ["SVC_BREAKER_OPEN_DURATION", "60"]
  ])("%s=%s is a ConfigError naming the variable", (name, value) => {
    const result = policy({ [name]: value })
    expect(Either.isLeft(result)).toBe(true)
    // Effect prints the path of a nested variable with dots: SVC.RETRY_MAX_ATTEMPTS is SVC_RETRY_MAX_ATTEMPTS
    expect(String(Either.flip(result).pipe(Either.getOrThrow))).toContain(`at ${name.replace("SVC_", "SVC.")}:`)
  })

  it("reads URLs without their trailing slash and refuses what is not http(s)", () => {
    expect(read(Config.url("URL"), { URL: "http://127.0.0.1:2000/" })).toEqual(Either.right("http://127.0.0.1:2000"))
    expect(String(Either.flip(read(Config.url("URL"), { URL: "ftp://x" })).pipe(Either.getOrThrow))).toContain("URL")
    expect(Either.isLeft(read(Config.url("URL"), { URL: "not a url" }))).toBe(true)
  })
})
