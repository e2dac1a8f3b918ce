import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { runMain, stackLine } from "./utils/main.js"

interface Post {
  readonly path: string
  readonly body: any
}

/** An OTLP/HTTP (JSON) receiver on 127.0.0.1, for the scope: what was posted to it. */
const receiver = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly posts: Array<Post>; readonly server: http.Server }>((resume) => {
    const posts: Array<Post> = []
    const server = http.createServer((request, response) => {
      let text = ""
      request.on("data", (chunk: Buffer) => (text += chunk.toString()))
      request.on("end", () => {
        posts.push({ path: request.url ?? "", body: JSON.parse(text) })
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, posts, server }))
    })
  }),
  ({ server }) => Effect.sync(() => server.close())
)

const store = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "fanfare-main-")), "jobs.db")

describe("fanfare's main", () => {
  it.scopedLive(
    "a bad variable is one line on stderr naming it, exit code 2, nothing started",
    () =>
      Effect.gen(function*() {
        for (
          const [env, line] of [
            [{ FANFARE_JOBS: "0" }, "fanfare: FANFARE_JOBS: Expected a whole number ≥ 1, got 0"],
            [{ FANFARE_JOBS: "abc" }, "fanfare: FANFARE_JOBS: Expected an integer value but received \"abc\""],
            [{ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, /^fanfare: OTEL_EXPORTER_OTLP_PROTOCOL: Expected http\/protobuf/]
          ] as const
        ) {
          const exited = yield* runMain({ ...env, FANFARE_STORE: store() })
          expect({ env, code: exited.code, stdout: exited.stdout }).toEqual({ env, code: 2, stdout: "" })
          expect(exited.stderr.trimEnd().split("\n")).toEqual([
            line instanceof RegExp ? expect.stringMatching(line) : line
          ])
        }
        // an Orpheus variable is read when the workers start: the same single line, after the emulators' lines
        const orpheus = yield* runMain({ ORPHEUS_TOTAL_TIMEOUT: "soon", FANFARE_STORE: store() })
        expect(orpheus.code).toBe(2)
        expect(orpheus.stderr).toBe(
          "fanfare: ORPHEUS_TOTAL_TIMEOUT: Expected a duration such as \"30 seconds\" or \"500 millis\", got \"soon\"\n"
        )
        expect(orpheus.stdout).not.toMatch(stackLine)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "with OTEL_EXPORTER_OTLP_ENDPOINT set, the run's spans are exported, service.name fanfare",
    () =>
      Effect.gen(function*() {
        const otlp = yield* receiver
        const exited = yield* runMain({
          OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          FANFARE_JOBS: "1",
          FANFARE_WORKERS: "1",
          FANFARE_MAX_TOKENS: "4",
          FANFARE_STORE: store()
        })
        expect(exited.code).toBe(0)
        expect(exited.stdout).toContain("1/1 pieces composed")
        const traces = otlp.posts.filter((post) => post.path === "/v1/traces")
        expect(traces.length).toBeGreaterThan(0)
        const resources = traces.flatMap((post) => post.body.resourceSpans.map((spans: any) => spans.resource))
        for (const resource of resources) {
          expect(resource.attributes).toContainEqual({ key: "service.name", value: { stringValue: "fanfare" } })
        }
        const names = traces.flatMap((post) =>
          post.body.resourceSpans.flatMap((spans: any) => spans.scopeSpans.flatMap((scope: any) => scope.spans))
        ).map((span: any) => span.name as string)
        // the job's attempt, its workflow steps and their Orpheus calls
        expect(names).toEqual(
          expect.arrayContaining(["JobSupervisor.attempt", "Workflow.step bridge", "Orpheus.loops"])
        )
        // the metrics are flushed when the run ends, before their first 60 s interval
        expect(otlp.posts.some((post) => post.path === "/v1/metrics")).toBe(true)
      }),
    { timeout: 60_000 }
  )
})
