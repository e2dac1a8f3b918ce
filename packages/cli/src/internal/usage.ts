import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

/**
 * What a command that only groups others (`bulwark jobs`) does when given
 * options but no subcommand: says which ones there are, in one line, and
 * fails as a command-line error. (Run bare, `Cli.main` shows its help.)
 *
 * @internal
 */
export const missingSubcommand = (
  command: string,
  subcommands: ReadonlyArray<string>
): Effect.Effect<never, ValidationError.ValidationError> => {
  const message = `${command}: name a subcommand: ${subcommands.join(", ")} (see ${command} --help)`
  return Effect.zipRight(
    Console.error(message),
    Effect.fail(ValidationError.missingSubcommand(HelpDoc.p(message)))
  )
}
