import * as GitHubEmulator from "@bulwark/emulators/GitHubEmulator"
import * as OllamaEmulator from "@bulwark/emulators/OllamaEmulator"
import * as OpenAiEmulator from "@bulwark/emulators/OpenAiEmulator"
import * as OrpheusEmulator from "@bulwark/emulators/OrpheusEmulator"
import { expectDocSection } from "@bulwark/test-support/DocRegions"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Logger, LogLevel } from "effect"
import * as GitHubProgram from "./programs/GitHubProgram.js"
import * as LlmProgram from "./programs/LlmProgram.js"
import * as OllamaProgram from "./programs/OllamaProgram.js"
import * as OrpheusProgram from "./programs/OrpheusProgram.js"
import { app } from "./utils/keys.js"

/** The complete programs of docs/clients.md, run as they are, configured by the environment only. */
const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))

describe("the complete programs of docs/clients.md", () => {
  for (const name of ["Orpheus", "Ollama", "Llm", "GitHub"]) {
    it(`${name}: the page shows the program file to the letter`, () =>
      expectDocSection("clients.md", `${__dirname}/programs/${name}Program.ts`))
  }

  it.scopedLive("Orpheus: generate, continue and bridge under one job id", () =>
    Effect.gen(function*() {
      const base = yield* OrpheusEmulator.make({ model: "base", seed: 1 })
      const bridge = yield* OrpheusEmulator.make({ model: "bridge", seed: 2 })
      const generation = yield* OrpheusProgram.main.pipe(
        withEnv({ ORPHEUS_BASE_URL: base.url, ORPHEUS_BRIDGE_URL: bridge.url }),
        Logger.withMinimumLogLevel(LogLevel.Error)
      )
      expect(generation.variations).toHaveLength(1)
      expect((yield* base.stats).clientJobIds).toContain("fanfare-1")
      expect((yield* bridge.stats).clientJobIds).toContain("fanfare-1")
    }))

  it.scopedLive("Ollama: the first local model's streamed answer", () =>
    Effect.gen(function*() {
      const ollama = yield* OllamaEmulator.make({ seed: 3 })
      const text = yield* OllamaProgram.main.pipe(withEnv({ OLLAMA_HOST: ollama.url }))
      expect(typeof text === "string" && text.length > 0).toBe(true)
    }))

  it.scopedLive("Llm: one completion and the budget left", () =>
    Effect.gen(function*() {
      const openai = yield* OpenAiEmulator.make({ apiKey: "sk-test", seed: 4 })
      const text = yield* LlmProgram.main.pipe(
        withEnv({ LLM_BASE_URL: `${openai.url}/v1`, LLM_API_KEY: "sk-test", LLM_MODEL: "gpt-4o-mini" })
      )
      expect(text.length).toBeGreaterThan(0)
    }))

  it.scopedLive("GitHub: one comment as the App's installation", () =>
    Effect.gen(function*() {
      const github = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey })
      const comment = yield* GitHubProgram.main("octo-org", "hello", 7).pipe(
        withEnv({
          GITHUB_APP_ID: "42",
          GITHUB_PRIVATE_KEY: app.privateKey,
          GITHUB_INSTALLATION_ID: "1",
          GITHUB_API_URL: github.url
        })
      )
      expect(comment.body).toBe("Triaged by Bulwark's issue runner.")
    }))
})
