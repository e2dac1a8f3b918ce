import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runMain } from "./utils/main.js"

describe("issue-runner's main", () => {
  it.scopedLive(
    "a bad variable or issues file is one line on stderr naming it, exit code 2, before any output",
    () =>
      Effect.gen(function*() {
        const cases = [
          [{ LLM_BASE_URL: "ftp://x" }, "issue-runner: LLM_BASE_URL: Expected an http(s) URL, got \"ftp://x\""],
          [
            { LLM_API_KEY: "sk-1", LLM_TIMEOUT: "soon" },
            "issue-runner: LLM_TIMEOUT: Expected a duration such as \"30 seconds\" or \"500 millis\", got \"soon\""
          ],
          [
            { ISSUE_RUNNER_ISSUES_FILE: "/nonexistent/issues.json" },
            /^issue-runner: cannot read the issues from \/nonexistent\/issues\.json: .*ENOENT/
          ],
          [
            { OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" },
            /^issue-runner: OTEL_EXPORTER_OTLP_PROTOCOL: Expected http\/protobuf or http\/json/
          ]
        ] as const
        const exits = yield* Effect.forEach(cases, ([env]) => runMain(env), { concurrency: "unbounded" })
        cases.forEach(([env, line], i) => {
          const exited = exits[i]!
          expect({ env, code: exited.code, stdout: exited.stdout }).toEqual({ env, code: 2, stdout: "" })
          expect(exited.stderr.trimEnd().split("\n")).toEqual([
            typeof line === "string" ? line : expect.stringMatching(line)
          ])
        })
      }),
    { timeout: 60_000 }
  )
})
