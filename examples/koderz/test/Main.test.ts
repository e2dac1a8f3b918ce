import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runMain, stackLine } from "./utils/main.js"

describe("koderz's main", () => {
  it.scopedLive(
    "telemetry from the OTEL_* variables: a bad one is one line naming it, exit code 2",
    () =>
      Effect.gen(function*() {
        const [grpc, ok] = yield* Effect.all([
          runMain({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, "problems"),
          // no endpoint: nothing exported, nothing in the way
          runMain({}, "problems")
        ], { concurrency: "unbounded" })
        expect(grpc.code).toBe(2)
        expect(grpc.stdout).toBe("")
        expect(grpc.stderr).toMatch(
          /^koderz: OTEL_EXPORTER_OTLP_PROTOCOL: Expected http\/protobuf or http\/json[^\n]*\n$/
        )
        expect(ok.code).toBe(0)
        expect(ok.stdout.split("\n")[0]).toMatch(/^KZ\/0 +add/)
        expect(ok.stderr).not.toMatch(stackLine)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive("a bad option is one line and exit code 2, never a stack trace", () =>
    Effect.gen(function*() {
      const exited = yield* runMain({}, "benchmark", "--local-model")
      expect(exited).toEqual({
        code: 2,
        stdout: "",
        stderr: "koderz: --local-model needs a value (koderz benchmark --help)\n"
      })
    }), { timeout: 60_000 })
})
