import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck } from "effect"
import * as Problems from "../src/Problems.js"

/** A correct answer to each problem, as a model would write it. */
const solutions: Readonly<Record<string, string>> = {
  add: "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```",
  is_palindrome: "def is_palindrome(s: str) -> bool:\n    return s == s[::-1]",
  fizzbuzz: [
    "Here you go:",
    "```python",
    "def fizzbuzz(n):",
    "    out = []",
    "    for i in range(1, n + 1):",
    "        if i % 15 == 0: out.append(\"FizzBuzz\")",
    "        elif i % 3 == 0: out.append(\"Fizz\")",
    "        elif i % 5 == 0: out.append(\"Buzz\")",
    "        else: out.append(str(i))",
    "    return out",
    "```"
  ].join("\n"),
  factorial: "def factorial(n):\n    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result",
  fib: "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
  count_vowels: "def count_vowels(s):\n    return sum(1 for c in s.lower() if c in 'aeiou')",
  reverse_words: "def reverse_words(s):\n    return ' '.join(reversed(s.split()))",
  largest:
    "def largest(xs):\n    best = xs[0]\n    for x in xs:\n        if x > best:\n            best = x\n    return best",
  c_to_f: "def c_to_f(c):\n    return c * 9 / 5 + 32",
  flatten: "def flatten(xss):\n    return [x for xs in xss for x in xs]"
}

describe("Problems", () => {
  it("the set has ten problems, KZ/0 … KZ/9, with distinct entry points", () => {
    expect(Problems.all.map((problem) => problem.id)).toEqual(Array.from({ length: 10 }, (_, i) => `KZ/${i}`))
    expect(new Set(Problems.all.map((problem) => problem.entryPoint)).size).toBe(10)
  })

  it("each checker accepts a correct answer", () => {
    for (const problem of Problems.all) {
      expect({ id: problem.id, passes: Problems.check(problem, solutions[problem.entryPoint] ?? "") }).toEqual({
        id: problem.id,
        passes: true
      })
    }
  })

  it("each checker refuses the emulator's words, another problem's answer, and a missing function", () => {
    const words = "lorem river quietly bright module seven orange falls over the lazy compiler"
    for (const [index, problem] of Problems.all.entries()) {
      const other = Problems.all[(index + 1) % Problems.all.length]!
      expect(Problems.check(problem, words)).toBe(false)
      expect(Problems.check(problem, solutions[other.entryPoint] ?? "")).toBe(false)
      expect(Problems.check(problem, `I cannot write ${problem.entryPoint} for you.`)).toBe(false)
    }
  })

  it("the code of an answer is its first fenced block", () => {
    expect(Problems.code("text\n```python\nx = 1\n```\nmore\n```\ny\n```")).toBe("x = 1\n")
    expect(Problems.code("x = 1")).toBe("x = 1")
  })

  it.prop(
    "select gives [start, end) when 0 ≤ start < end ≤ 10, and an InvalidRange naming both otherwise",
    [FastCheck.integer({ min: -3, max: 13 }), FastCheck.option(FastCheck.integer({ min: -3, max: 13 }))],
    ([start, end]) => {
      const selected = Problems.select({ start, end: end ?? undefined })
      const last = end ?? 10
      if (start >= 0 && start < last && last <= 10) {
        expect(Either.getOrThrow(selected).map((problem) => problem.index)).toEqual(
          Array.from({ length: last - start }, (_, i) => start + i)
        )
      } else {
        const error = Either.flip(selected).pipe(Either.getOrThrow)
        expect(error._tag).toBe("InvalidRange")
        expect(error.message).toContain(`--start ${start} --end ${last}:`)
      }
    }
  )
})
