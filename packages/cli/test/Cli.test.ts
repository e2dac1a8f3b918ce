import * as Cli from "@bulwark/cli/Cli"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { forkCli, runCli } from "./utils/cli.js"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

/** An OTLP/HTTP collector on 127.0.0.1 that keeps the bodies posted to it, by path. */
const collector = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly received: Array<{ path: string; body: string }>; server: http.Server }>(
    (resume) => {
      const received: Array<{ path: string; body: string }> = []
      const server = http.createServer((request, response) => {
        let body = ""
        request.on("data", (chunk: Buffer) => (body += chunk.toString()))
        request.on("end", () => {
          received.push({ path: request.url ?? "", body })
          response.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number }
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, received, server }))
      })
    }
  ),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

const commands: ReadonlyArray<ReadonlyArray<string>> = [
  [],
  ["demo"],
  ["jobs"],
  ["jobs", "list"],
  ["jobs", "show"],
  ["jobs", "cancel"],
  ["jobs", "retry"],
  ["jobs", "prune"],
  ["emulate"],
  ["serve"]
]

/** What @effect/cli writes under every option by itself: not a description. */
const boilerplate =
  /^(A user-defined piece of text\.|An integer\.|A true or false value\.|One of the following: .*|This setting is optional\.|This option may be repeated.*|This option can be set from environment variables\.|)$/

/** The options (and arguments) of a help text, each with the lines under it. */
const entries = (help: string, section: "OPTIONS" | "ARGUMENTS") => {
  const start = help.indexOf(`\n${section}\n`)
  if (start === -1) return []
  const body = help.slice(start + section.length + 2).split(/\n(?=[A-Z]+\n)/)[0]!
  const result: Array<{ name: string; lines: Array<string> }> = []
  for (const line of body.split("\n")) {
    if (line === "") continue
    if (!line.startsWith(" ")) result.push({ name: line, lines: [] })
    else result[result.length - 1]!.lines.push(line.trim())
  }
  return result
}

const builtIns = /^(--completions|--log-level|\(-h, --help\)|--wizard|--version)/

describe("bulwark", () => {
  it.effect("--version prints the package's version", () =>
    Effect.gen(function*() {
      const packageJson = JSON.parse(fs.readFileSync(path.join(__dirname, "../package.json"), "utf8"))
      expect(Cli.version).toBe(packageJson.version)
      const result = yield* runCli("--version")
      expect(result.code).toBe(0)
      expect(result.stdout.trim()).toBe(packageJson.version)
      expect(result.stderr).toBe("")
    }))

  it.effect("run alone, `bulwark` and `bulwark jobs` show their help", () =>
    Effect.gen(function*() {
      const root = yield* runCli()
      expect(root.code).toBe(0)
      for (const name of ["demo", "jobs list", "jobs prune", "emulate", "serve"]) {
        expect(root.stdout).toContain(`- ${name} `)
      }
      const jobs = yield* runCli("jobs")
      expect(jobs.code).toBe(0)
      expect(jobs.stdout).toContain("- cancel [--store URL] [--json] <ID>")
    }))

  it.effect("every command and every option has a description of its own", () =>
    Effect.gen(function*() {
      for (const command of commands) {
        const { code, stdout } = yield* runCli(...command, "--help")
        const name = ["bulwark", ...command].join(" ")
        expect(code, name).toBe(0)
        const description = stdout.split("\nDESCRIPTION\n")[1]?.trim().split("\n")[0] ?? ""
        expect(description.length, `${name}: description`).toBeGreaterThan(10)
        const documented = [...entries(stdout, "OPTIONS"), ...entries(stdout, "ARGUMENTS")]
          .filter((entry) => !builtIns.test(entry.name))
        for (const entry of documented) {
          expect(entry.lines.filter((line) => !boilerplate.test(line)), `${name} ${entry.name}`).not.toEqual([])
        }
      }
      // The check reads what it should: the options of `jobs list` are found.
      const list = yield* runCli("jobs", "list", "--help")
      expect(entries(list.stdout, "OPTIONS").map((entry) => entry.name.split(" ")[0])).toEqual(
        expect.arrayContaining(["--store", "--state", "--type", "--limit", "--json"])
      )
    }))

  it.effect("bad command lines: a one-line message, code 2, no stack trace", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["launch"], "Invalid subcommand for bulwark - use one of 'demo', 'jobs', 'emulate', 'serve'"],
        [["jobs", "list", "--limit", "0"], "--limit must be at least 1"],
        [["jobs", "list", "--limit", "ten"], "'ten' is not a integer"],
        [
          ["jobs", "list", "--state", "done"],
          "Expected one of the following cases: scheduled, queued, running, retrying, succeeded, failed, cancelled"
        ],
        [["jobs", "list", "--colour"], "Received unknown argument: '--colour'"],
        [["jobs", "show"], "Missing argument <ID>"],
        [["jobs", "cancel", "a", "b"], "Received unknown argument: 'b'"],
        [["jobs", "prune", "--older-than", "a while"], "--older-than takes a duration such as 7d, 12h, 30m or 1h30m"],
        [["jobs", "prune", "--keep", "-1"], "--keep must be 0 or more"],
        [["serve", "--port", "99999"], "--port must be a whole number from 0 to 65535 (0: any free port)"]
      ]
      for (const [args, message] of cases) {
        const result = yield* runCli(...args)
        const name = ["bulwark", ...args].join(" ")
        expect(result.code, name).toBe(Cli.ExitCode.usage)
        expect(result.stdout, name).toBe("")
        expect(result.stderr.trim(), name).toBe(message)
      }
    }))

  it.effect("a group with options but no subcommand names its subcommands", () =>
    Effect.gen(function*() {
      const result = yield* runCli("jobs", "--json")
      expect(result.code).toBe(2)
      expect(result.stderr.trim().split("\n")).toHaveLength(1)
    }))
})

describe("bulwark and OpenTelemetry", () => {
  it.scoped("a bad OTEL_* variable: one line naming it, exit 2, for every command that runs work", () =>
    Effect.gen(function*() {
      const env = withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })
      const missing = `sqlite:${path.join(os.tmpdir(), "bulwark-no-such-dir", "jobs.db")}`
      for (
        const command of [["demo", "--jobs", "1"], ["serve", "--port", "0", "--store", missing], ["emulate", "ollama"]]
      ) {
        const result = yield* runCli(...command).pipe(env)
        const name = command[0]!
        expect(result.code, name).toBe(Cli.ExitCode.usage)
        expect(result.stdout, name).toBe("")
        expect(result.stderr, name).toBe(
          `bulwark: invalid environment variable OTEL_EXPORTER_OTLP_ENDPOINT: Expected an http(s) URL, got "collector:4318"\n`
        )
      }
    }))

  it.scopedLive(
    "with OTEL_EXPORTER_OTLP_ENDPOINT set, a command's spans go to the collector",
    () =>
      Effect.gen(function*() {
        const otlp = yield* collector
        const emulate = yield* forkCli("emulate", "ollama", "--port", "0").pipe(
          withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })
        )
        yield* emulate.waitFor(/listening on http/)
        // Ctrl-C: the telemetry layer is closed with the command, which flushes its spans.
        yield* Fiber.interrupt(emulate.fiber)
        const traces = otlp.received.filter((request) => request.path === "/v1/traces")
        expect(traces.length).toBeGreaterThan(0)
        const spans = traces.flatMap((request) =>
          JSON.parse(request.body).resourceSpans.flatMap((resource: any) =>
            resource.scopeSpans.flatMap((scope: any) =>
              scope.spans.map((span: any) => ({ name: span.name, resource: resource.resource }))
            )
          )
        )
        const run = spans.find((span: { name: string }) => span.name === "EmulateCommand.run")
        expect(run).toBeDefined()
        expect(run.resource.attributes).toEqual(
          expect.arrayContaining([{ key: "service.name", value: { stringValue: "bulwark" } }])
        )
      }),
    20_000
  )
})

describe("Cli.interruptedExitCode", () => {
  it("130 for the demo and the jobs commands, 0 for the servers that Ctrl-C is meant to stop", () => {
    const code = (...args: ReadonlyArray<string>) => Cli.interruptedExitCode(["node", "bulwark", ...args])
    expect(code("demo", "--plain")).toBe(130)
    expect(code("--log-level", "debug", "jobs", "list", "--store", "sqlite:serve.db")).toBe(130)
    expect(code("serve", "--store", "sqlite:demo.db")).toBe(0)
    expect(code("--log-level=debug", "emulate", "orpheus")).toBe(0)
  })
})

describe("--log-level debug", () => {
  it.scoped("shows the failure's full cause after its line; without it, the line alone", () =>
    Effect.gen(function*() {
      const store = `sqlite:${path.join(os.tmpdir(), "bulwark-no-such-dir", "jobs.db")}`
      const quiet = yield* runCli("jobs", "list", "--store", store)
      expect(quiet.code).toBe(1)
      expect(quiet.stderr.trim().split("\n")).toHaveLength(1)
      for (const args of [["--log-level", "debug", "jobs", "list"], ["jobs", "list", "--log-level=debug"]]) {
        const verbose = yield* runCli(...args, "--store", store)
        expect(verbose.code, args.join(" ")).toBe(1)
        const [first, ...rest] = verbose.stderr.trim().split("\n")
        expect(first).toBe(quiet.stderr.trim())
        expect(rest.join("\n"), args.join(" ")).toMatch(/StoreNotFound/)
      }
    }))
})
