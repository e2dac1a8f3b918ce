import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Logger, TestClock } from "effect"
import { program } from "../src/program.js"

describe("retry-basics", () => {
  it.effect("recovers, waits for the GPU, gives up, and does not retry a 404", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const logger = Logger.make(({ message }) => {
        warnings.push(Array.isArray(message) ? message.join(" ") : String(message))
      })
      const fiber = yield* Effect.fork(program.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
      yield* TestClock.adjust("1 minute")
      expect(yield* Fiber.join(fiber)).toEqual([true, true, false, false])
      expect(warnings.filter((line) => line.includes("orpheus failed"))).toEqual(
        Array(4).fill(
          "[Attempt 1/3] orpheus failed: RateLimited rate limited from orpheus (HTTP 429): GPU busy; retry after 300ms. Retrying in 0.3s (rate limited: not counted as an attempt)"
        )
      )
      expect(warnings.at(-1)).toBe(
        "[Attempt 5/5] llm failed: ServerError server error from llm (HTTP 502): bad gateway. Giving up: no attempts left"
      )
    }))
})
