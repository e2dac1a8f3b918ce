/**
 * `pnpm bench [name...]`: runs benchmarks, prints tables or one JSON document,
 * and with `--write-docs` rewrites their sections of docs/benchmarks.md.
 * stdout carries only the results; progress and notes go to stderr.
 */
import * as Either from "effect/Either"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { all } from "./benchmarks/index.js"
import * as Cli from "./Cli.js"
import * as Docs from "./Docs.js"
import type { Progress } from "./Harness.js"
import { measure } from "./Harness.js"
import * as Machine from "./Machine.js"
import * as Render from "./Render.js"
import { simulate } from "./Simulation.js"

const docsPath = fileURLToPath(new URL("../../../docs/benchmarks.md", import.meta.url))

const fail = (message: string, code: number): never => {
  process.stderr.write(`bench: ${message}\n`)
  process.exit(code)
}

const showProgress = process.stderr.isTTY
  ? ({ benchmark, done, phase, total }: Progress) => {
    process.stderr.write(`\r\x1b[K${benchmark}: ${phase} ${done}/${total}`)
  }
  : undefined

const clearProgress = () => {
  if (showProgress !== undefined) process.stderr.write("\r\x1b[K")
}

const main = async (): Promise<void> => {
  const parsed = Cli.parse(process.argv.slice(2))
  if (Either.isLeft(parsed)) return fail(`${parsed.left}\n\n${Cli.usage}`, 2)
  const args = parsed.right
  const known = all.map((benchmark) => benchmark.name)
  if (args.help) return void process.stdout.write(Cli.usage)
  if (args.list) return void process.stdout.write(`${known.join("\n")}\n`)

  const unknown = args.names.filter((name) => !known.includes(name))
  if (unknown.length > 0) {
    return fail(
      `unknown benchmark${unknown.length === 1 ? "" : "s"} ${unknown.map((name) => `"${name}"`).join(", ")}. ` +
        `Known benchmarks: ${known.join(", ")}`,
      2
    )
  }
  const selected = args.names.length === 0 ? all : all.filter((benchmark) => args.names.includes(benchmark.name))

  const machine = Machine.current()
  const reports: Array<Render.AnyReport> = []
  for (const benchmark of selected) {
    const report = benchmark.kind === "simulation"
      ? await simulate(benchmark, machine)
      : await measure(benchmark, args.settings, machine, { onProgress: showProgress })
    clearProgress()
    reports.push(report)
    if (!args.json) process.stdout.write(`${Render.table(report)}\n`)
  }

  if (args.json) {
    const document = reports.length === 1 ? reports[0] : { benchmarks: reports }
    process.stdout.write(`${JSON.stringify(document, null, 2)}\n`)
  }

  if (args.writeDocs) {
    const date = new Date().toISOString().slice(0, 10)
    const page = fs.existsSync(docsPath) ? fs.readFileSync(docsPath, "utf8") : undefined
    const sections = reports.map((report, index) => ({
      report,
      command: Cli.command(report.benchmark, args, report.kind === "timing"),
      description: selected[index]!.description,
      date
    }))
    fs.writeFileSync(docsPath, Docs.update(page, sections))
    process.stderr.write(`bench: wrote ${docsPath}\n`)
  }

  if (args.check && reports.some((report) => report.verdict?.ok === false)) process.exitCode = 1
}

await main()
