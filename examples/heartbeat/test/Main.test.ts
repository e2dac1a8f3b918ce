import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runMain } from "./utils/main.js"

describe("heartbeat's main", () => {
  it.scopedLive(
    "a bad flag or variable is one line on stderr naming it, exit code 2, nothing served",
    () =>
      Effect.gen(function*() {
        const cases = [
          [["--port", "abc"], {}, "heartbeat: --port: Expected an integer value but received \"abc\""],
          [[], { HEARTBEAT_PORT: "abc" }, "heartbeat: HEARTBEAT_PORT: Expected an integer value but received \"abc\""],
          [
            [],
            { OLLAMA_HOST: "ftp://gpu" },
            "heartbeat: OLLAMA_HOST: Expected host:port or an http(s) URL, got \"ftp://gpu\""
          ],
          [
            [],
            { CIRCUIT_DEFAULT_FAILURE_THRESHOLD: "many" },
            "heartbeat: CIRCUIT_DEFAULT_FAILURE_THRESHOLD: Expected a number value but received \"many\""
          ],
          [
            [],
            { CIRCUIT_OPENAI_OPEN_DURATION: "soon" },
            "heartbeat: CIRCUIT_OPENAI_OPEN_DURATION: invalid circuit-breaker option openDuration = \"soon\": " +
            "expected a duration ≥ 0 and finite (e.g. 1500, \"1.5 seconds\")"
          ],
          [
            [],
            { OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" },
            /^heartbeat: OTEL_EXPORTER_OTLP_PROTOCOL: Expected http\/protobuf or http\/json/
          ]
        ] as const
        const exits = yield* Effect.forEach(
          cases,
          ([args, env]) => runMain(env, ...args, "--load-duration", "0 seconds"),
          { concurrency: "unbounded" }
        )
        cases.forEach(([args, env, line], i) => {
          const exited = exits[i]!
          expect({ args, env, code: exited.code, stdout: exited.stdout }).toEqual({ args, env, code: 2, stdout: "" })
          expect(exited.stderr.trimEnd().split("\n")).toEqual([
            typeof line === "string" ? line : expect.stringMatching(line)
          ])
        })
      }),
    { timeout: 60_000 }
  )
})
