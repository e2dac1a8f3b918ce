/**
 * The bundled problem set: ten tiny HumanEval-style Python tasks, each a
 * prompt and a checker. A checker reads the answer's code, it does not run
 * it: koderz never executes what a model wrote. It asks for a function with
 * the right name and signature and for the one or two things a solution
 * cannot do without (`[::-1]` or `reversed` to reverse, `9` and `32` to
 * convert a temperature); that is a shape check, enough to tell an answer
 * from a refusal or a wrong function, not a proof that the code is right.
 *
 * @since 0.1.0
 */
import { Either, Schema } from "effect"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Problem {
  /** Its place in the set: what `--start` / `--end` count. */
  readonly index: number
  /** `KZ/<index>`, as HumanEval's `HumanEval/<n>`. */
  readonly id: string
  /** The function the answer must define. */
  readonly entryPoint: string
  readonly prompt: string
  /** Each must match the answer's code. */
  readonly expect: ReadonlyArray<RegExp>
}

const task = (entryPoint: string, signature: string, description: string, expect: ReadonlyArray<RegExp>) => ({
  entryPoint,
  prompt: `Write a Python function \`${signature}\` that ${description}. ` +
    "Answer with the code only, in one ```python block.",
  expect
})

const tasks = [
  task("add", "add(a: int, b: int) -> int", "returns the sum of a and b", [/return\b/]),
  task("is_palindrome", "is_palindrome(s: str) -> bool", "tells whether s reads the same backwards", [
    /\[::-1\]|reversed\(|\bfor\b|\bwhile\b/
  ]),
  task("fizzbuzz", "fizzbuzz(n: int) -> list[str]", "returns FizzBuzz from 1 to n", [/FizzBuzz|Fizz.*Buzz/s, /%/]),
  task("factorial", "factorial(n: int) -> int", "returns n! (factorial(0) == 1)", [/return\b/, /\*/]),
  task("fib", "fib(n: int) -> int", "returns the n-th Fibonacci number, fib(0) == 0 and fib(1) == 1", [
    /return\b/,
    /\+/
  ]),
  task("count_vowels", "count_vowels(s: str) -> int", "counts the vowels (a, e, i, o, u, any case) in s", [
    /[aeiou]{5}|["']a["']/i
  ]),
  task("reverse_words", "reverse_words(s: str) -> str", "reverses the order of the words in s", [
    /\.split\(/,
    /\[::-1\]|reversed\(|\.reverse\(/
  ]),
  task("largest", "largest(xs: list[int]) -> int", "returns the largest number of a non-empty list", [/return\b/]),
  task("c_to_f", "c_to_f(c: float) -> float", "converts degrees Celsius to Fahrenheit", [/\b9\b/, /\b32\b/]),
  task("flatten", "flatten(xss: list[list[int]]) -> list[int]", "flattens one level of nesting", [
    /\bfor\b|\bsum\(|chain/
  ])
] as const

/**
 * The bundled set, in order.
 *
 * @since 0.1.0
 * @category Constants
 */
export const all: ReadonlyArray<Problem> = tasks.map((spec, index) => ({ index, id: `KZ/${index}`, ...spec }))

/**
 * The code of an answer: its first fenced block, or the whole answer when it
 * has none (models often answer bare code).
 *
 * @since 0.1.0
 * @category Checking
 */
export const code = (answer: string): string => {
  const fenced = /```[a-zA-Z0-9_+-]*\n([\s\S]*?)```/.exec(answer)
  return fenced?.[1] ?? answer
}

/**
 * Whether an answer passes the problem's checker: it defines
 * `def <entryPoint>(` and matches every expectation.
 *
 * @since 0.1.0
 * @category Checking
 */
export const check = (problem: Problem, answer: string): boolean => {
  const text = code(answer)
  return new RegExp(`\\bdef\\s+${problem.entryPoint}\\s*\\(`).test(text) &&
    problem.expect.every((pattern) => pattern.test(text))
}

/**
 * `--start` / `--end` that select no problem of the set.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidRange extends Schema.TaggedError<InvalidRange>()("InvalidRange", {
  start: Schema.Number,
  end: Schema.Number,
  size: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `--start ${this.start} --end ${this.end}: ${this.reason} ` +
      `(the set has ${this.size} problems: --start 0 … ${this.size - 1}, --end 1 … ${this.size}, end excluded)`
  }
}

/**
 * The problems `[start, end)`, as the seed's `--start 0 --end 164`; `end`
 * defaults to the size of the set.
 *
 * @since 0.1.0
 * @category Selecting
 */
export const select = (
  range: { readonly start: number; readonly end?: number | undefined },
  problems: ReadonlyArray<Problem> = all
): Either.Either<ReadonlyArray<Problem>, InvalidRange> => {
  const size = problems.length
  const { start } = range
  const end = range.end ?? size
  const invalid = (reason: string) => Either.left(new InvalidRange({ start, end, size, reason }))
  if (!Number.isInteger(start) || start < 0) return invalid("--start must be a whole number ≥ 0")
  if (!Number.isInteger(end) || end > size) return invalid(`--end must be a whole number ≤ ${size}`)
  if (start >= end) return invalid("--start must be below --end")
  return Either.right(problems.slice(start, end))
}
