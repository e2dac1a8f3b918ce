/**
 * The command line: `pnpm bench [name...] [--json] [--write-docs] [--check] [--quick]
 * [--samples N] [--warmup N] [--target-ms N] [--list]`.
 */
import * as Either from "effect/Either"
import type { Settings } from "./Harness.js"
import { defaultSettings, quickSettings } from "./Harness.js"

export interface Args {
  /** Benchmarks to run, in order; empty means all. */
  readonly names: ReadonlyArray<string>
  readonly json: boolean
  readonly writeDocs: boolean
  readonly check: boolean
  readonly list: boolean
  readonly help: boolean
  readonly settings: Settings
  /** The tuning flags as given, so the docs can show the exact command. */
  readonly tuning: ReadonlyArray<string>
}

export const usage = `Usage: pnpm bench [name...] [options]

Runs the named benchmarks (all when none is named) and prints a table per benchmark.
Simulations (storm, contention) run once; the tuning options do not apply to them.

Options:
  --json           print one JSON document on stdout instead of tables
  --write-docs     rewrite the sections of docs/benchmarks.md for the benchmarks that ran
  --check          exit 1 when a benchmark's verdict is WORSE
  --quick          fewer, shorter samples (${quickSettings.samples} samples, ${quickSettings.warmupRounds} warm-up rounds, ~${quickSettings.targetSampleMillis} ms each)
  --samples N      measured rounds (default ${defaultSettings.samples})
  --warmup N       warm-up rounds, thrown away (default ${defaultSettings.warmupRounds})
  --target-ms N    how long one sample of one peer should take (default ${defaultSettings.targetSampleMillis})
  --list           print the benchmark names and exit
  --help           print this help
`

const tuningFlags = {
  "--samples": { key: "samples", min: 1, integer: true },
  "--warmup": { key: "warmupRounds", min: 0, integer: true },
  "--target-ms": { key: "targetSampleMillis", min: 0.01, integer: false }
} as const satisfies Record<string, { key: keyof Settings; min: number; integer: boolean }>

const isTuningFlag = (flag: string): flag is keyof typeof tuningFlags => Object.hasOwn(tuningFlags, flag)

export const parse = (argv: ReadonlyArray<string>): Either.Either<Args, string> => {
  const names: Array<string> = []
  const flags = new Set<string>()
  const overrides: Partial<Record<keyof Settings, number>> = {}
  const tuning: Array<string> = []
  for (let index = 0; index < argv.length; index++) {
    const token = argv[index]!
    if (token === "--") continue
    if (!token.startsWith("-")) {
      if (!names.includes(token)) names.push(token)
      continue
    }
    const equals = token.indexOf("=")
    const flag = equals === -1 ? token : token.slice(0, equals)
    const inline = equals === -1 ? undefined : token.slice(equals + 1)
    if (isTuningFlag(flag)) {
      const raw = inline ?? argv[++index]
      const spec = tuningFlags[flag]
      const value = Number(raw)
      if (raw === undefined || raw.trim() === "" || !Number.isFinite(value) || value < spec.min) {
        return Either.left(`${flag} needs a number ≥ ${spec.min}, got ${raw === undefined ? "nothing" : `"${raw}"`}`)
      }
      if (spec.integer && !Number.isInteger(value)) {
        return Either.left(`${flag} needs a whole number, got "${raw}"`)
      }
      overrides[spec.key] = value
      tuning.push(flag, String(value))
      continue
    }
    if (inline !== undefined) return Either.left(`${flag} takes no value`)
    switch (flag) {
      case "--json":
      case "--write-docs":
      case "--check":
      case "--list":
        flags.add(flag)
        continue
      case "--quick":
        flags.add(flag)
        tuning.unshift(flag)
        continue
      case "--help":
      case "-h":
        flags.add("--help")
        continue
      default:
        return Either.left(`unknown option ${token}`)
    }
  }
  return Either.right({
    names,
    json: flags.has("--json"),
    writeDocs: flags.has("--write-docs"),
    check: flags.has("--check"),
    list: flags.has("--list"),
    help: flags.has("--help"),
    settings: { ...(flags.has("--quick") ? quickSettings : defaultSettings), ...overrides },
    tuning
  })
}

/**
 * The command that reproduces one benchmark's numbers, for the docs. The tuning
 * flags only tune timings: a simulation's command goes without them.
 */
export const command = (name: string, args: Args, timing = true): string =>
  ["pnpm bench", name, ...(timing ? args.tuning : [])].join(" ")
