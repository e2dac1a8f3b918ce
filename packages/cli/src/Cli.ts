/**
 * The `bulwark` command: the root that groups `demo`, `jobs`, `emulate` and
 * `serve`, and `main`, which runs it the way a person at a terminal expects:
 * a failure is one line on stderr and a non-zero exit code, never a stack
 * trace.
 *
 * Exit codes: 0 done, 1 the command failed (its message says why), 2 the
 * command line was wrong (the parser's message says how).
 *
 * @since 0.1.0
 */
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as DemoCommand from "./DemoCommand.js"
import * as EmulateCommand from "./EmulateCommand.js"
import * as Report from "./internal/report.js"
import * as Usage from "./internal/usage.js"
import { version } from "./internal/version.js"
import * as JobsCommand from "./JobsCommand.js"
import * as ServeCommand from "./ServeCommand.js"

/**
 * The version `bulwark --version` prints.
 *
 * @since 0.1.0
 * @category Metadata
 */
export { version }

const subcommands = [DemoCommand.command, JobsCommand.command, EmulateCommand.command, ServeCommand.command] as const

/**
 * `bulwark` and every subcommand.
 *
 * @since 0.1.0
 * @category Commands
 */
export const command = Command.make(
  "bulwark",
  {},
  () => Usage.missingSubcommand("bulwark", ["demo", "jobs", "emulate", "serve"])
).pipe(
  Command.withDescription(
    "Bulwark: resilient clients and durable jobs for Effect. Start with `bulwark demo`."
  ),
  Command.withSubcommands(subcommands)
)

/**
 * Parses `argv` (as `process.argv`: the runtime and script first) and runs
 * the command it names. Fails with the command's own error, or with a
 * `ValidationError` once the parser has printed what is wrong with the line.
 *
 * @since 0.1.0
 * @category Running
 */
export const run = Command.run(command, { name: "bulwark", version })

/**
 * The process's exit codes.
 *
 * @since 0.1.0
 * @category Running
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2
} as const

const groups = new Set(["jobs"])

/** `bulwark` or `bulwark jobs` alone asks what there is: show the help. */
const withHelp = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const args = argv.slice(2)
  return args.length === 0 || (args.length === 1 && groups.has(args[0]!)) ? [...argv, "--help"] : argv
}

/**
 * {@link run}, with every failure turned into one line on stderr and an
 * exit code: what `bin.ts` runs. An interruption (Ctrl-C) is left as is, so
 * the runtime stops the way it does for any interrupted program.
 *
 * @since 0.1.0
 * @category Running
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number, never, CliApp.CliApp.Environment> =>
  run(withHelp(argv)).pipe(
    Effect.as(ExitCode.ok),
    Effect.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) {
        // The parser has printed what is wrong with the command line.
        return Effect.succeed(ExitCode.usage)
      }
      const what = Option.match(failure, {
        onSome: (error) => Report.describe(error),
        onNone: () =>
          Option.match(Cause.dieOption(cause), {
            onSome: (defect) => `unexpected failure (a bug in bulwark, please report it): ${Report.describe(defect)}`,
            onNone: () => "unexpected failure"
          })
      })
      return Effect.as(
        Effect.zipRight(
          Effect.logDebug("bulwark failed", cause),
          Console.error(`bulwark: ${what}`)
        ),
        ExitCode.failed
      )
    })
  )
