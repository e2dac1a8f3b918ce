import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Redacted } from "effect"
import * as Settings from "../src/Settings.js"

const message = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.map(Effect.flip(Settings.load(args, env)), (error) => error.message)

describe("Settings", () => {
  it.effect("flags over the environment over the defaults", () =>
    Effect.gen(function*() {
      const env = { HEARTBEAT_PORT: "9000", HEARTBEAT_LOAD_INTERVAL: "1 second", OLLAMA_HOST: "http://gpu:11434" }
      const settings = yield* Settings.load(["--port", "0", "--serve", "--openai-faults=status=500"], env)
      expect(settings).toMatchObject({
        port: 0,
        serve: true,
        verbose: false,
        loadInterval: Duration.seconds(1),
        loadDuration: Duration.seconds(12),
        ollama: { url: "http://gpu:11434", model: "llama3.2:3b" },
        openai: { url: undefined, apiKey: undefined, model: "gpt-4o-mini", faults: "status=500" }
      })
      expect(Redacted.value((yield* Settings.load([], { LLM_API_KEY: "sk-1" })).openai.apiKey!)).toBe("sk-1")
    }))

  it.effect("OLLAMA_HOST as Ollama reads it (host, host:port or a URL); LLM_BASE_URL an http(s) URL", () =>
    Effect.gen(function*() {
      const ollama = (host: string) => Effect.map(Settings.load([], { OLLAMA_HOST: host }), (s) => s.ollama.url)
      expect(yield* ollama("gpu")).toBe("http://gpu:11434")
      expect(yield* ollama("gpu:8000")).toBe("http://gpu:8000")
      expect(yield* ollama("https://ollama.example/")).toBe("https://ollama.example")
      const llm = yield* Settings.load([], { LLM_BASE_URL: "https://api.openai.com/v1/" })
      expect(llm.openai.url).toBe("https://api.openai.com/v1")
      expect(yield* message([], { OLLAMA_HOST: "ftp://gpu" })).toBe(
        "OLLAMA_HOST: Expected host:port or an http(s) URL, got \"ftp://gpu\""
      )
      expect(yield* message([], { LLM_BASE_URL: "api.openai.com" })).toBe(
        "LLM_BASE_URL: Expected an http(s) URL, got \"api.openai.com\""
      )
    }))

  it.effect("a command line not understood: the reason and the usage", () =>
    Effect.gen(function*() {
      expect(yield* message(["--prot", "8080"])).toMatch(/^unknown argument "--prot"\nusage: heartbeat/)
      expect(yield* message(["--port"])).toMatch(/^--port needs a value\nusage: heartbeat/)
    }))

  it.effect("a bad value: one line naming the flag that gave it, or else its variable", () =>
    Effect.gen(function*() {
      expect(yield* message(["--port", "eighty"])).toBe("--port: Expected an integer value but received \"eighty\"")
      expect(yield* message(["--port=70000"])).toBe("--port: Expected a port in [0, 65535] (0: a free one)")
      // the same value from the environment is named by its variable
      expect(yield* message([], { HEARTBEAT_PORT: "eighty" })).toBe(
        "HEARTBEAT_PORT: Expected an integer value but received \"eighty\""
      )
      // a flag wins over its variable, and so does its name in the message
      expect(yield* message(["--load-duration", "soon"], { HEARTBEAT_LOAD_DURATION: "1 second" })).toBe(
        "--load-duration: Expected a duration but received \"soon\""
      )
      // every bad value, each by its own name
      expect(yield* message(["--load-interval", "often"], { HEARTBEAT_PORT: "-1" })).toBe(
        "HEARTBEAT_PORT: Expected a port in [0, 65535] (0: a free one); " +
          "--load-interval: Expected a duration but received \"often\""
      )
    }))
})
