import { Errors } from "@bulwark/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect } from "effect"
import * as Log from "../src/Log.js"

const logged = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    yield* effect.pipe(Effect.provide(Log.layer({ write: (line) => lines.push(line) })))
    return lines.map((line) => line.replace(/^ +[\d.]+s /, ""))
  })

describe("Log", () => {
  it.effect("a line logged with a cause says what went wrong, without a stack trace", () =>
    Effect.gen(function*() {
      const policy = new Errors.InvalidPolicy({ policy: "retry", field: "maxAttempts", value: "0", expected: "≥ 1" })
      const lines = yield* logged(Effect.gen(function*() {
        // what a failed main logs: the cause alone, no message
        yield* Effect.logError(Cause.fail(policy))
        yield* Effect.logError("Job 1234 failed", Cause.die(new Error("disk full")))
        yield* Effect.logWarning("plain")
      }))
      expect(lines).toEqual([
        `ERROR InvalidPolicy: ${policy.message}`,
        "ERROR Job 1234 failed: Error: disk full",
        "WARN  plain"
      ])
    }))
})
