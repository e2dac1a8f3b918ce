/**
 * The `bulwark` command: the root that groups `demo`, `jobs`, `emulate` and
 * `serve`, and `main`, which runs it the way a person at a terminal expects:
 * a failure is one line on stderr and a non-zero exit code, never a stack
 * trace.
 *
 * Exit codes: 0 done, 1 the command failed (its message says why), 2 the
 * command line was wrong (the parser's message says how), 130 `demo` or
 * `jobs` interrupted by Ctrl-C (`serve` and `emulate` run until Ctrl-C, so
 * for them it is 0).
 *
 * The commands that run work (`demo`, `serve`, `emulate`) export their spans
 * and metrics over OTLP when the standard OTEL_* variables say where
 * (`Telemetry.layerConfig` of @bulwark/telemetry); a bad variable is a failure
 * that names it.
 *
 * @since 0.1.0
 */
import * as Telemetry from "@bulwark/telemetry/Telemetry"
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as DemoCommand from "./DemoCommand.js"
import * as EmulateCommand from "./EmulateCommand.js"
import * as PlainConsole from "./internal/plainConsole.js"
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

/**
 * OpenTelemetry for the commands that run work, from the OTEL_* environment
 * (nothing is exported without an endpoint); `OTEL_SERVICE_NAME` wins over
 * the name `bulwark`.
 *
 * @since 0.1.0
 * @category Layers
 */
export const telemetry = Telemetry.layerConfig({ serviceName: "bulwark", serviceVersion: version })

const subcommands = [
  DemoCommand.command.pipe(Command.provide(telemetry)),
  JobsCommand.command,
  EmulateCommand.command.pipe(Command.provide(telemetry)),
  ServeCommand.command.pipe(Command.provide(telemetry))
] as const

const names = ["demo", "jobs", "emulate", "serve"]

/**
 * `bulwark` and every subcommand.
 *
 * @since 0.1.0
 * @category Commands
 */
export const command = Command.make(
  "bulwark",
  {},
  () => Usage.missingSubcommand("bulwark", names)
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
  /** The command line or an environment variable is wrong: nothing ran. */
  usage: 2,
  /** 128 + SIGINT, as a shell reports a program stopped by Ctrl-C. */
  interrupted: 130
} as const

/**
 * The exit code of a run stopped by Ctrl-C (SIGINT or SIGTERM): 0 for
 * `serve` and `emulate`, which run until stopped; 130 for anything else, so
 * that an interrupted `demo` does not pass for one whose every job succeeded.
 *
 * @since 0.1.0
 * @category Running
 */
export const interruptedExitCode = (argv: ReadonlyArray<string>): number => {
  // Before the subcommand come only built-in options, whose values are no command names.
  const command = argv.slice(2).find((arg) => names.includes(arg))
  return command === "serve" || command === "emulate" ? ExitCode.ok : ExitCode.interrupted
}

const verboseLevels = new Set(["all", "trace", "debug"])

/** `--log-level debug` (or trace, all) anywhere on the line, as @effect/cli reads it. */
const debugAsked = (argv: ReadonlyArray<string>) =>
  argv.slice(2).some((arg, i, args) =>
    arg.startsWith("--log-level=")
      ? verboseLevels.has(arg.slice("--log-level=".length).toLowerCase())
      : arg === "--log-level" && verboseLevels.has((args[i + 1] ?? "").toLowerCase())
  )

/** Colours only for a terminal, and never with NO_COLOR set (https://no-color.org). */
const plainUnlessTerminal = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Effect.zip(
      Effect.console,
      Config.option(Config.string("NO_COLOR")).pipe(Effect.orElseSucceed(() => Option.none<string>()))
    ),
    ([console, noColor]) => {
      const allowed = Option.isNone(noColor) || noColor.value === ""
      return Effect.withConsole(
        effect,
        PlainConsole.withColours(console, {
          stdout: allowed && process.stdout.isTTY === true,
          stderr: allowed && process.stderr.isTTY === true
        })
      )
    }
  )

const groups = new Set(["jobs"])

/** `bulwark` or `bulwark jobs` alone asks what there is: show the help. */
const withHelp = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const args = argv.slice(2)
  return args.length === 0 || (args.length === 1 && groups.has(args[0]!)) ? [...argv, "--help"] : argv
}

/**
 * {@link run}, with every failure turned into one line on stderr and an
 * exit code: what `bin.ts` runs. With `--log-level debug` the failure's full
 * cause follows that line. An interruption (Ctrl-C) is left as is, so the
 * runtime stops the way it does for any interrupted program (`bin.ts` exits
 * with {@link interruptedExitCode}). Colours (of the help and the parser's
 * messages) only on a terminal.
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
      // A bad variable is wrong input, like a bad flag: nothing ran.
      const code = Option.isSome(failure) && ConfigError.isConfigError(failure.value) ? ExitCode.usage : ExitCode.failed
      return Effect.as(
        Effect.zipRight(
          Console.error(`bulwark: ${what}`),
          // @effect/cli applies --log-level inside `run` only: out here it is read from the line.
          debugAsked(argv) ? Console.error(Cause.pretty(cause, { renderErrorCause: true })) : Effect.void
        ),
        code
      )
    }),
    plainUnlessTerminal
  )
