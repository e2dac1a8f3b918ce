import { ConfigErrors } from "@bulwark/core"
import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigProvider, Effect } from "effect"

const read = <A>(config: Config.Config<A>, env: Record<string, string>) =>
  Effect.flip(
    Effect.withConfigProvider(config, ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))
  )

describe("ConfigErrors.describe", () => {
  it.effect("one line per variable, named as set, each problem once", () =>
    Effect.gen(function*() {
      const both = Config.all([Config.integer("JOBS"), Config.duration("TIMEOUT").pipe(Config.nested("OLLAMA"))])
      const error = yield* read(both, { JOBS: "many", OLLAMA_TIMEOUT: "soon" })
      const text = ConfigErrors.describe(error)
      expect(text).toMatch(/^JOBS: .*; OLLAMA_TIMEOUT: /)
      expect(text).not.toContain("Invalid data at")
    }))

  it.effect("a missing variable says so; a flag's name stands for the variable it set", () =>
    Effect.gen(function*() {
      const error = yield* read(Config.integer("HEARTBEAT_PORT"), {})
      expect(ConfigErrors.describe(error)).toBe("HEARTBEAT_PORT: not set")
      const bad = yield* read(Config.integer("HEARTBEAT_PORT"), { HEARTBEAT_PORT: "abc" })
      expect(ConfigErrors.describe(bad, new Map([["HEARTBEAT_PORT", "--port"]]))).toMatch(/^--port: /)
    }))

  it.effect("one variable read two ways: the last reading says what was expected", () =>
    Effect.gen(function*() {
      const offOrDuration = Config.literal("off")("TIMEOUT").pipe(Config.orElse(() => Config.duration("TIMEOUT")))
      const error = yield* read(offOrDuration, { TIMEOUT: "soon" })
      const text = ConfigErrors.describe(error)
      expect(text.startsWith("TIMEOUT: ")).toBe(true)
      expect(text).not.toContain("off")
    }))

  it.effect("two different variables as alternatives are both named", () =>
    Effect.gen(function*() {
      const either = Config.string("GITHUB_PRIVATE_KEY").pipe(
        Config.orElse(() => Config.string("GITHUB_APP_PRIVATE_KEY"))
      )
      const text = ConfigErrors.describe(yield* read(either, {}))
      expect(text).toBe("GITHUB_PRIVATE_KEY: not set, or GITHUB_APP_PRIVATE_KEY: not set")
    }))
})
