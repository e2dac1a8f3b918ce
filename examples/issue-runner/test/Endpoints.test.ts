import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import * as Endpoints from "../src/Endpoints.js"

const targets = (env: Record<string, string>) =>
  Endpoints.targets.pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))
  )

describe("Endpoints", () => {
  it.effect("the emulators unless the clients' variables name a real endpoint, per service", () =>
    Effect.gen(function*() {
      expect(yield* targets({})).toEqual({ llm: "emulated", github: "emulated" })
      expect(yield* targets({ LLM_BASE_URL: "http://localhost:11434/v1" })).toEqual({
        llm: "real",
        github: "emulated"
      })
      expect(yield* targets({ LLM_API_KEY: "sk-x" })).toEqual({ llm: "real", github: "emulated" })
      expect(yield* targets({ GITHUB_APP_ID: "42" })).toEqual({ llm: "emulated", github: "real" })
      expect(yield* targets({ GITHUB_API_URL: "https://ghe.example/api/v3", LLM_API_KEY: "sk-x" })).toEqual({
        llm: "real",
        github: "real"
      })
      // a variable of another client does not count
      expect(yield* targets({ OPENAI_BASE_URL: "https://api.openai.com/v1" })).toEqual({
        llm: "emulated",
        github: "emulated"
      })
    }))

  it("describes where each service is", () => {
    expect(Endpoints.describe({ llm: "real", github: "emulated" }, { gitHubFaults: "status=503@0s-2s" })).toEqual([
      "LLM: real endpoint (LLM_BASE_URL / LLM_API_KEY)",
      "GitHub: GitHub emulator faults: status=503@0s-2s; at most 2 comments per 1s (secondary rate limit)"
    ])
  })

  it.effect("a real GitHub without its variables fails naming the first one missing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(
          Endpoints.layer({ llm: "emulated", github: "real" }).pipe(
            (layer) => Effect.asVoid(Effect.provide(Effect.void, layer))
          )
        ).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["GITHUB_APP_ID", "42"]]), { pathDelim: "_" }))
        )
      )
      expect(String(error)).toMatch(/GITHUB_PRIVATE_KEY|GITHUB_APP_PRIVATE_KEY/)
    }))
})
