import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Cli from "../src/Cli.js"
import { defaultSettings, quickSettings } from "../src/Harness.js"

const parse = (...argv: Array<string>) => Either.getOrThrow(Cli.parse(argv))
const refusal = (...argv: Array<string>) => Either.flip(Cli.parse(argv)).pipe(Either.getOrThrow)

describe("Cli", () => {
  it("runs everything with the defaults when given nothing", () => {
    expect(parse()).toEqual({
      names: [],
      json: false,
      writeDocs: false,
      check: false,
      list: false,
      help: false,
      settings: defaultSettings,
      tuning: []
    })
  })

  it("takes names and flags in any order, and a pnpm `--`", () => {
    expect(parse("--", "retry", "--json", "retry", "--write-docs")).toMatchObject({
      names: ["retry"],
      json: true,
      writeDocs: true
    })
  })

  it("tunes the settings, over --quick", () => {
    const args = parse("retry", "--samples", "7", "--quick", "--target-ms=2.5")
    expect(args.settings).toEqual({ ...quickSettings, samples: 7, targetSampleMillis: 2.5 })
    expect(Cli.command("retry", args)).toBe("pnpm bench retry --quick --samples 7 --target-ms 2.5")
    expect(Cli.command("retry", parse("--json", "--write-docs"))).toBe("pnpm bench retry")
    expect(Cli.command("storm", args, false)).toBe("pnpm bench storm")
  })

  it("refuses unknown options and bad numbers", () => {
    expect(refusal("--fast")).toMatch(/unknown option --fast/)
    expect(refusal("--samples")).toMatch(/got nothing/)
    expect(refusal("--samples", "0")).toMatch(/≥ 1/)
    expect(refusal("--samples", "2.5")).toMatch(/whole number/)
    expect(refusal("--warmup", "x")).toMatch(/"x"/)
    expect(refusal("--json=yes")).toMatch(/takes no value/)
  })
})
