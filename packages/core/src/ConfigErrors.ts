/**
 * A `ConfigError` as one line a person can act on — each variable and what is
 * wrong with it (`ORPHEUS_TIMEOUT: Expected a duration, got "soon"`) — instead
 * of `String(error)`'s `(Invalid data at ORPHEUS.TIMEOUT: …)` trees. Every
 * Bulwark `layerConfig` fails with a `ConfigError`; a program's `main` prints
 * this and exits.
 *
 * @since 0.1.0
 */
import type * as ConfigError from "effect/ConfigError"

interface Problem {
  /** The variable (or the flag that set it); `""` for a problem that names its own. */
  readonly name: string
  readonly message: string
}

const line = (problem: Problem) => problem.name === "" ? problem.message : `${problem.name}: ${problem.message}`

const problems = (error: ConfigError.ConfigError, names: ReadonlyMap<string, string>): ReadonlyArray<Problem> => {
  switch (error._op) {
    case "And":
      return [...problems(error.left, names), ...problems(error.right, names)]
    case "Or": {
      const left = problems(error.left, names)
      const right = problems(error.right, names)
      // One variable read two ways (`off`, else a duration): the last reading says what was expected.
      if (left.every((problem) => right.some((other) => other.name === problem.name))) return right
      return [{ name: "", message: `${left.map(line).join("; ")}, or ${right.map(line).join("; ")}` }]
    }
    default: {
      const variable = error.path.join("_")
      const missing = error._op === "MissingData" && /to exist in the/.test(error.message)
      return [{ name: names.get(variable) ?? variable, message: missing ? "not set" : error.message }]
    }
  }
}

/**
 * The problems of `error`, `; `-separated, each once. A variable in `names`
 * is shown by that name instead: the command-line flag that set it.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const describe = (error: ConfigError.ConfigError, names: ReadonlyMap<string, string> = new Map()): string =>
  [...new Set(problems(error, names).map(line))].join("; ")
