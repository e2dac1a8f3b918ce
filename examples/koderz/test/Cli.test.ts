import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Lab from "../src/Lab.js"
import { fastDefaults, problemLines, runKoderz, server } from "./utils/run.js"

describe("koderz benchmark against the Ollama emulator", () => {
  it.scopedLive("a healthy model passes every problem, one request each", () =>
    Effect.gen(function*() {
      const healthy = yield* server("healthy", { models: ["healthy:7b"], tokenLatency: "1ms" })
      const result = yield* runKoderz(
        ["benchmark", "--local-model", "healthy:7b"],
        Lab.fromServers([healthy.server], fastDefaults)
      )

      expect(result.code).toBe(0)
      const lines = problemLines(result.stdout)
      expect(lines).toHaveLength(10)
      expect(lines.every((line) => line.startsWith("  ✓ "))).toBe(true)
      expect(result.stdout).toContain("healthy:7b: 10 passed, 0 failed, 0 error(s)")
      expect(result.stdout).toContain("✓ 1 model(s) ran every problem")
      expect(result.stdout).toContain("grading: synthetic")
      const stats = yield* healthy.emulator.stats
      expect(stats.requests).toBe(10)
      expect(stats.responses).toEqual({ 200: 10 })
    }))

  it.scopedLive("an unknown model is skipped with a not-found entry and the run goes on", () =>
    Effect.gen(function*() {
      const healthy = yield* server("healthy", { models: ["healthy:7b"], tokenLatency: "1ms" })
      const result = yield* runKoderz(
        ["benchmark", "--local-model", "ghost:1b", "--local-model", "healthy:7b", "--end", "3"],
        Lab.fromServers([healthy.server], fastDefaults)
      )

      expect(result.code).toBe(1)
      expect(problemLines(result.stdout)).toEqual([
        expect.stringMatching(
          /^ {2}! KZ\/0 add .* not found \(404\) after 1 attempt\(s\): ollama has no model "ghost:1b"/
        ),
        expect.stringMatching(/^ {2}✓ KZ\/0 add/),
        expect.stringMatching(/^ {2}✓ KZ\/1 is_palindrome/),
        expect.stringMatching(/^ {2}✓ KZ\/2 fizzbuzz/)
      ])
      expect(result.stdout).toMatch(/ghost:1b +0 +0 +1 +2 +1 +0 {2}not found \(404\) ×1/)
      expect(result.stdout).toContain("⚠ 1 model(s) failed:\n  • ghost:1b: not found (404) — ollama has no model")
      const stats = yield* healthy.emulator.stats
      // the 404 is not retried: one request for the ghost, three for the healthy model
      expect(stats.rejections).toEqual({ 404: 1 })
      expect(stats.requests).toBe(4)
    }))

  it.scopedLive("a slow model outlasts --timeout on every attempt: --max-retries + 1 requests, then skipped", () =>
    Effect.gen(function*() {
      // 8 tokens at least, 100 ms each: every answer outlasts --timeout 0.2
      const slow = yield* server("slow", { models: ["slow:70b"], tokenLatency: "100ms" })
      const result = yield* runKoderz(
        ["benchmark", "--local-model", "slow:70b", "--timeout", "0.2", "--max-retries", "2"],
        Lab.fromServers([slow.server], fastDefaults)
      )

      expect(result.code).toBe(1)
      // --max-retries 2: three requests reached the server, then the model was skipped
      expect((yield* slow.emulator.stats).requests).toBe(3)
      expect(result.logs.filter((line) => line.startsWith("WARN  [slow:70b KZ/0]"))).toEqual([
        "WARN  [slow:70b KZ/0] [Attempt 1/3] ollama failed: AttemptTimedOut attempt on ollama timed out after 200ms. Retrying in 20ms",
        "WARN  [slow:70b KZ/0] [Attempt 2/3] ollama failed: AttemptTimedOut attempt on ollama timed out after 200ms. Retrying in 40ms",
        "WARN  [slow:70b KZ/0] [Attempt 3/3] ollama failed: AttemptTimedOut attempt on ollama timed out after 200ms. Giving up: no attempts left"
      ])
      expect(problemLines(result.stdout)).toEqual([
        expect.stringMatching(/^ {2}! KZ\/0 add .* timeout after 3 attempt\(s\): ollama gave up after 3 attempts/)
      ])
      expect(result.stdout).toContain("slow:70b: 0 passed, 0 failed, 1 error(s)")
      expect(result.stdout).toContain("3 request(s), 2 retried; timeout ×3")
      expect(result.stdout).toContain("⤼ skipped slow:70b after timeout: 9 problem(s) not run")
      expect(result.stdout).toMatch(/slow:70b +0 +0 +1 +9 +3 +2 {2}timeout ×1/)
      expect(result.stdout).toContain("⚠ 1 model(s) failed:\n  • slow:70b: timeout — ollama gave up after 3 attempts")
    }))

  it.scopedLive("per-model timeouts (OLLAMA_MODEL_TIMEOUTS): the slow model times out, the run goes on", () =>
    Effect.gen(function*() {
      const slow = yield* server("slow", { models: ["slow:70b"], tokenLatency: "100ms" })
      const healthy = yield* server("healthy", { models: ["healthy:7b"], tokenLatency: "1ms" })
      const result = yield* runKoderz(
        ["benchmark", "--local-model", "slow:70b", "--local-model", "healthy:7b", "--end", "3"],
        Lab.fromServers([healthy.server, slow.server], fastDefaults),
        { OLLAMA_MODEL_TIMEOUTS: "slow:70b=200 millis", OLLAMA_RETRY_MAX_ATTEMPTS: "2" }
      )

      expect(result.code).toBe(1)
      expect((yield* slow.emulator.stats).requests).toBe(2)
      expect(result.stdout).toContain("▶ slow:70b at " + slow.emulator.url + " — timeout 200ms per attempt, up to 2")
      expect(result.stdout).toContain("▶ healthy:7b at " + healthy.emulator.url + " — timeout 2s per attempt, up to 2")
      expect(result.stdout).toMatch(/slow:70b +0 +0 +1 +2 +2 +1 {2}timeout ×1/)
      // after a timeout the next model waits for capacity (one GET /api/ps), then runs
      expect(result.stdout).toContain(`… ${healthy.emulator.url} has capacity (/api/ps answered)`)
      expect(result.stdout).toMatch(/healthy:7b +3 +0 +0 +0 +3 +0 {2}—/)
      expect((yield* healthy.emulator.stats).requests).toBe(3 + 1)
    }))

  it.scopedLive("a full queue answers 503, retried until every problem passes", () =>
    Effect.gen(function*() {
      // one slot, one waiting place: of a batch of 4, two are refused at once
      const busy = yield* server("busy", { models: ["busy:7b"], numParallel: 1, maxQueue: 1, tokenLatency: "2ms" })
      const result = yield* runKoderz(
        ["benchmark", "--local-model", "busy:7b", "--concurrency", "4", "--max-retries", "8", "--end", "9"],
        Lab.fromServers([busy.server], fastDefaults)
      )

      expect(result.code).toBe(0)
      expect(problemLines(result.stdout).every((line) => line.startsWith("  ✓ "))).toBe(true)
      expect(result.stdout).toContain("busy:7b: 9 passed, 0 failed, 0 error(s)")
      const stats = yield* busy.emulator.stats
      const refused = stats.rejections["503"] ?? 0
      expect(refused).toBeGreaterThanOrEqual(2)
      expect(stats.responses["200"]).toBe(9)
      // every 503 cost one retry, and koderz counted them all
      expect(stats.requests).toBe(9 + refused)
      expect(result.stdout).toContain(`${9 + refused} request(s), ${refused} retried; 503 ×${refused}`)
      expect(result.stdout).toMatch(/retried after 503/)
      expect(result.logs.some((line) => /\[Attempt 1\/9\] ollama failed: Overloaded .*HTTP 503/.test(line))).toBe(true)
    }))

  it.scopedLive("--start and --end select the problems [start, end)", () =>
    Effect.gen(function*() {
      const healthy = yield* server("healthy", { models: ["healthy:7b"], tokenLatency: "1ms" })
      const result = yield* runKoderz(
        ["benchmark", "--local-model", "healthy:7b", "--start", "2", "--end", "5"],
        Lab.fromServers([healthy.server], fastDefaults)
      )

      expect(result.code).toBe(0)
      expect(result.stdout).toContain("problems KZ/2…KZ/4 (3)")
      expect(problemLines(result.stdout).map((line) => line.slice(4, 8))).toEqual(["KZ/2", "KZ/3", "KZ/4"])
      expect((yield* healthy.emulator.stats).requests).toBe(3)
    }))

  it.scopedLive("a real Ollama (--ollama-url or OLLAMA_HOST): models from /api/tags, answers read by the checkers", () =>
    Effect.gen(function*() {
      const ollama = yield* server("real", { models: ["qwen2.5-coder:7b", "llama3.2:3b"], tokenLatency: "1ms" })
      const unused = Lab.fromServers([ollama.server], fastDefaults)
      const byFlag = yield* runKoderz(["benchmark", "--ollama-url", ollama.emulator.url, "--end", "2"], unused)
      const byEnv = yield* runKoderz(["benchmark", "--end", "2"], unused, { OLLAMA_HOST: ollama.emulator.url })

      for (const result of [byFlag, byEnv]) {
        // the emulator's words are no Python: every answer came back and failed its check
        expect(result.code).toBe(0)
        expect(result.stdout).toContain("grading: checks")
        expect(result.stdout).toContain("▶ qwen2.5-coder:7b")
        expect(result.stdout).toContain("▶ llama3.2:3b")
        expect(problemLines(result.stdout)).toHaveLength(4)
        expect(problemLines(result.stdout).every((line) => line.includes("answer failed the check"))).toBe(true)
      }
      // one GET /api/tags and four generations per run
      expect((yield* ollama.emulator.stats).requests).toBe(2 * (1 + 4))
    }))
})

describe("koderz command line errors", () => {
  const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp, Record<string, string>?]> = [
    [["benchmark", "--max-retries", "-1"], /--max-retries must be 0 or more, got -1/],
    [["benchmark", "--timeout", "abc"], /'abc' is not a float/],
    [["benchmark", "--timeout", "0"], /--timeout must be a number of seconds above 0/],
    [["benchmark", "--concurrency", "0"], /--concurrency must be a whole number ≥ 1/],
    [["benchmark", "--start", "5", "--end", "2"], /--start 5 --end 2: --start must be below --end/],
    [["benchmark", "--end", "11"], /--end must be a whole number ≤ 10 \(the set has 10 problems/],
    [["benchmark", "--bogus"], /Received unknown argument: '--bogus'/],
    [["bench"], /Invalid subcommand for koderz/],
    [["benchmark", "--local-model", "healthy:7b"], /^koderz: OLLAMA_RETRY_BASE_DELAY: Expected a duration/, {
      OLLAMA_RETRY_BASE_DELAY: "soon"
    }],
    // a repeated option without its value: @effect/cli alone would drop it and run the default models
    [["benchmark", "--local-model"], /^koderz: --local-model needs a value \(koderz benchmark --help\)$/],
    [["benchmark", "--end", "3", "--local-model"], /^koderz: --local-model needs a value/],
    [["benchmark", "--local-model", "--end", "3"], /^koderz: --local-model needs a value/],
    [["benchmark", "--local-model", ""], /^koderz: --local-model needs a value/],
    [["benchmark", "--local-model", "healthy:7b", "--ollama-url"], /^koderz: --ollama-url needs a value/],
    // a value from a flag is named by the flag, the same value from the environment by its variable
    [
      ["benchmark", "--ollama-url", "ftp://x"],
      /^koderz: --ollama-url: Expected host:port or a URL: expected http or https, got "ftp:\/\/" in "ftp:\/\/x"$/
    ],
    [["benchmark"], /^koderz: OLLAMA_HOST: Expected host:port or a URL: expected http or https/, {
      OLLAMA_HOST: "ftp://x"
    }],
    // one problem per variable, not the parser's tree of alternatives
    [
      ["benchmark", "--local-model", "healthy:7b"],
      /^koderz: OLLAMA_TIMEOUT: Expected a duration such as "30 seconds" or "500 millis", got "abc"$/,
      { OLLAMA_TIMEOUT: "abc" }
    ],
    [["benchmark", "--local-model", "healthy:7b"], /^koderz: LOG_LEVEL: Expected a log level but received "loud"$/, {
      LOG_LEVEL: "loud"
    }]
  ]

  it.scopedLive("a bad option or variable is one clear message and exit code 2, before any request", () =>
    Effect.gen(function*() {
      const healthy = yield* server("healthy", { models: ["healthy:7b"] })
      const lab = Lab.fromServers([healthy.server], fastDefaults)
      for (const [args, message, env] of cases) {
        const result = yield* runKoderz(args, lab, env)
        expect({ args, code: result.code }).toEqual({ args, code: 2 })
        expect(result.stderr).toMatch(message)
        expect(result.stderr).not.toMatch(/\n\s+at /) // no stack trace
        expect(result.stdout).not.toContain("Summary")
      }
      expect((yield* healthy.emulator.stats).requests).toBe(0)
    }))

  it.scopedLive("`koderz problems` lists the set; --help describes the options", () =>
    Effect.gen(function*() {
      const healthy = yield* server("healthy", { models: ["healthy:7b"] })
      const lab = Lab.fromServers([healthy.server], fastDefaults)
      const problems = yield* runKoderz(["problems"], lab)
      expect(problems.code).toBe(0)
      expect(problems.stdout.split("\n")).toHaveLength(10)
      expect(problems.stdout).toMatch(/^KZ\/0 +add +Write a Python function `add/)
      const help = yield* runKoderz(["benchmark", "--help"], lab)
      expect(help.code).toBe(0)
      for (const flag of ["--timeout", "--max-retries", "--start", "--end", "--local-model", "--ollama-url"]) {
        expect(help.stdout).toContain(flag)
      }
    }))
})

describe("koderz with no arguments", () => {
  it.scopedLive(
    "runs the demo lab: 503s retried, a slow 70B model timed out, a model never pulled",
    () =>
      Effect.gen(function*() {
        const result = yield* runKoderz([], Lab.make(Lab.demo))

        expect(result.code).toBe(1)
        expect(result.stdout).toContain("problems KZ/0…KZ/9 (10), 3 model(s), 4 at a time")
        expect(result.stdout).toMatch(/qwen2\.5-coder:7b +10 +0 +0 +0 +\d+ +\d+ {2}—/)
        expect(result.stdout).toMatch(/codellama:70b +0 +0 +1 +9 +4 +3 {2}timeout ×1/)
        expect(result.stdout).toMatch(/deepseek-coder:33b +0 +0 +1 +9 +1 +0 {2}not found \(404\) ×1/)
        expect(result.stdout).toMatch(/retried after 503/)
        expect(result.stdout).toContain("⚠ 2 model(s) failed:")
      }),
    { timeout: 20_000 }
  )
})
