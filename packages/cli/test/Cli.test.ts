import * as Cli from "@bulwark/cli/Cli"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { runCli } from "./utils/cli.js"

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
      expect(jobs.stdout).toContain("- cancel [--store URL] <ID>")
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
