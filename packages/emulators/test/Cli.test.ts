import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as Cli from "../src/Cli.js"

const services = ["orpheus", "ollama", "openai", "github"]
const parse = (...args: Array<string>) => Cli.parse(args, services)
const refusal = (...args: Array<string>) => Either.flip(parse(...args)).pipe(Either.getOrThrow).message

describe("Cli.parse", () => {
  it("reads a service and its flags, in either flag form", () => {
    expect(parse("orpheus")).toEqual(
      Either.right({ service: "orpheus", port: 0, faults: undefined, seed: undefined, options: {} })
    )
    expect(
      parse(
        "ollama",
        "--port",
        "11434",
        "--faults=status=503@5s-15s",
        "--seed",
        "7",
        "--options",
        "{\"numParallel\":2}"
      )
    )
      .toEqual(Either.right({
        service: "ollama",
        port: 11434,
        faults: "status=503@5s-15s",
        seed: 7,
        options: { numParallel: 2 }
      }))
  })

  it.each([
    [["nope"], "unknown service \"nope\""],
    [[], "name exactly one service"],
    [["orpheus", "ollama"], "name exactly one service"],
    [["orpheus", "--port", "70000"], "--port must be a whole number 0-65535"],
    [["orpheus", "--port", "-1"], "--port must be a whole number"],
    [["orpheus", "--port"], "--port needs a value"],
    [["orpheus", "--seed", "1.5"], "--seed must be a whole number"],
    [["orpheus", "--options", "[1]"], "--options must be a JSON object"],
    [["orpheus", "--options", "{"], "--options must be a JSON object"],
    [["orpheus", "--verbose"], "unknown flag --verbose"],
    [["orpheus", "--port", "1", "--port", "2"], "--port given twice"]
  ])("refuses %j", (args, reason) => {
    const message = refusal(...args)
    expect(message).toContain(reason)
    expect(message).toContain("usage: bulwark-emulate")
  })
})
