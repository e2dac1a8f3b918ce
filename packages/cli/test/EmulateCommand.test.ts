import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { forkCli, runCli } from "./utils/cli.js"

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
    return { status: response.status, body: await response.text() }
  })

describe("bulwark emulate", () => {
  it.scopedLive(
    "runs the emulator with its fault timeline, prints the URL, stops with a summary when interrupted",
    () =>
      Effect.gen(function*() {
        const emulate = yield* forkCli(
          "emulate",
          "openai",
          "--port",
          "0",
          "--faults",
          "status=429@0s-10m",
          "--seed",
          "7"
        )
        const [, url] = yield* emulate.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/)
        expect(yield* emulate.stdout).toContain(
          `faults: status=429@0s-10m; stats at ${url}/_emulator/stats; Ctrl-C to stop`
        )
        expect((yield* get(`${url}/v1/models`)).status).toBe(429)
        const stats = JSON.parse((yield* get(`${url}/_emulator/stats`)).body)
        expect(stats).toMatchObject({ requests: 1, responses: { 429: 1 } })

        yield* Fiber.interrupt(emulate.fiber)
        expect(yield* emulate.stdout).toMatch(
          /emulator stopped after 1 request; responses 429: 1; faults status-429: 1/
        )
        const refused = yield* Effect.promise(() => fetch(`${url}/v1/models`).then(() => false, () => true))
        expect(refused).toBe(true)
      }),
    15_000
  )

  it.scopedLive("--json prints one JSON line; --options reaches the emulator", () =>
    Effect.gen(function*() {
      const emulate = yield* forkCli("emulate", "orpheus", "--json", "--options", `{"capacity":3}`)
      const [line] = yield* emulate.waitFor(/^\{.*\}$/m)
      const { service, url, port } = JSON.parse(line)
      expect(service).toBe("orpheus-base")
      expect(url).toBe(`http://127.0.0.1:${port}`)
      expect(JSON.parse((yield* get(`${url}/_emulator/stats`)).body).capacity).toBe(3)
      yield* Fiber.interrupt(emulate.fiber)
    }), 15_000)

  it.effect("bad arguments: one line on stderr and a non-zero code", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, number, string]> = [
        [["emulate"], 2, "Missing argument"],
        [["emulate", "venus"], 2, "orpheus, ollama, openai, github"],
        [["emulate", "ollama", "--port", "65536"], 2, "--port must be a whole number from 0 to 65535"],
        [["emulate", "ollama", "--seed", "x"], 2, "integer"],
        [["emulate", "ollama", "--options", "[1]"], 2, "--options must be a JSON object"],
        [["emulate", "ollama", "--faults", "status=503@soon"], 1, "bulwark: Invalid fault spec"],
        [["emulate", "orpheus", "--options", `{"capacity":0}`], 1, "bulwark: Invalid option capacity"]
      ]
      for (const [args, code, message] of cases) {
        const result = yield* runCli(...args)
        expect(result.code, args.join(" ")).toBe(code)
        expect(result.stderr, args.join(" ")).toContain(message)
        expect(result.stderr).not.toMatch(/^\s+at /m)
      }
    }))
})
