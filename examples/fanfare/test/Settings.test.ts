import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import * as Settings from "../src/Settings.js"

const load = (env: Record<string, string>) =>
  Effect.withConfigProvider(Settings.load, ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("Settings", () => {
  it.effect("the defaults, and the variables over them", () =>
    Effect.gen(function*() {
      expect(yield* load({})).toEqual({
        jobs: 8,
        workers: 2,
        concurrency: 4,
        maxTokens: 128,
        store: ".fanfare/jobs.db"
      })
      expect(yield* load({ FANFARE_JOBS: "3", FANFARE_STORE: "/tmp/x.db" })).toMatchObject({
        jobs: 3,
        store: "/tmp/x.db"
      })
    }))

  it.effect("a bad value is refused, naming its variable", () =>
    Effect.gen(function*() {
      expect((yield* Effect.flip(load({ FANFARE_JOBS: "0" }))).message).toBe(
        "FANFARE_JOBS: Expected a whole number ≥ 1, got 0"
      )
      expect((yield* Effect.flip(load({ FANFARE_WORKERS: "two" }))).message).toBe(
        "FANFARE_WORKERS: Expected an integer value but received \"two\""
      )
      // every bad variable, not only the first
      expect((yield* Effect.flip(load({ FANFARE_JOBS: "-1", FANFARE_MAX_TOKENS: "1.5" }))).message).toMatch(
        /^FANFARE_JOBS: Expected a whole number ≥ 1, got -1; FANFARE_MAX_TOKENS: Expected an integer/
      )
    }))
})
