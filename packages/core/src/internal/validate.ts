import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { InvalidPolicy } from "../Errors.js"

/** The validated value of an option, or the typed reason it was refused. */
export type Checked<A> = Either.Either<A, InvalidPolicy>

const render = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "bigint") return `${value}n`
  if (Duration.isDuration(value)) return Duration.format(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** Checks the options of one policy; every refusal names the policy and the field. */
export const checker = (policy: string) => {
  const refuse = (field: string, value: unknown, expected: string): Checked<never> =>
    Either.left(new InvalidPolicy({ policy, field, value: render(value), expected }))

  /**
   * A duration in milliseconds. `Duration.decode` clamps negatives and NaN to zero
   * and throws on garbage strings, so the raw input is checked before decoding.
   */
  const millis = (
    field: string,
    input: unknown,
    options: { readonly infinite?: boolean } = {}
  ): Checked<number> => {
    const expected = `a duration ≥ 0${options.infinite ? "" : " and finite"} (e.g. 1500, "1.5 seconds")`
    if (typeof input === "number" && (Number.isNaN(input) || input < 0)) return refuse(field, input, expected)
    if (typeof input === "bigint" && input < 0n) return refuse(field, input, expected)
    if (typeof input === "string" && /^\s*-/.test(input)) return refuse(field, input, expected)
    if (Array.isArray(input) && input.some((part) => typeof part !== "number" || !(part >= 0))) {
      return refuse(field, input, expected)
    }
    const decoded = Duration.decodeUnknown(input)
    if (decoded._tag === "None") return refuse(field, input, expected)
    const value = Duration.toMillis(decoded.value)
    if (!options.infinite && !Number.isFinite(value)) return refuse(field, input, expected)
    return Either.right(value)
  }

  const number = (
    field: string,
    input: unknown,
    options: { readonly min: number; readonly integer?: boolean; readonly infinite?: boolean }
  ): Checked<number> => {
    const expected = `${options.integer ? "an integer" : "a number"} ≥ ${options.min}${
      options.infinite ? " (or Infinity)" : ""
    }`
    if (typeof input !== "number" || Number.isNaN(input) || input < options.min) {
      return refuse(field, input, expected)
    }
    if (input === Infinity) return options.infinite ? Either.right(input) : refuse(field, input, expected)
    if (options.integer && !Number.isInteger(input)) return refuse(field, input, expected)
    return Either.right(input)
  }

  const oneOf = <A extends string>(field: string, input: unknown, choices: ReadonlyArray<A>): Checked<A> =>
    choices.includes(input as A)
      ? Either.right(input as A)
      : refuse(field, input, `one of ${choices.map((choice) => JSON.stringify(choice)).join(", ")}`)

  const predicate = <F>(field: string, input: F): Checked<F> =>
    typeof input === "function" ? Either.right(input) : refuse(field, input, "a function")

  /** The name a policy reports under in logs, errors and metrics. */
  const service = (field: string, input: unknown): Checked<string> =>
    typeof input === "string" && input.length > 0 ? Either.right(input) : refuse(field, input, "a non-empty string")

  return { refuse, millis, number, oneOf, predicate, service }
}
