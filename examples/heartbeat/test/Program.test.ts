import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import { Prometheus } from "@bulwark/telemetry"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { program } from "../src/Program.js"
import * as Settings from "../src/Settings.js"

describe("the program (src/main.ts without the process)", () => {
  it.live("serves, runs the load, and the log tells the breaker's whole cycle", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => {
        lines.push(Array.isArray(message) ? message.join(" ") : String(message))
      })
      const settings = yield* Settings.load(
        [
          "--port=0",
          "--load-duration",
          "4 seconds",
          "--load-interval",
          "50 millis",
          "--openai-faults",
          // wide for a loaded machine: 3 failed calls inside it open the breaker
          "status=503@300ms-2500ms"
        ],
        {} // not the environment: no real endpoint in a test
      )
      yield* program(settings).pipe(
        Effect.provide(
          Layer.mergeAll(
            CircuitBreakers.layer({
              defaults: { trip: CircuitBreaker.consecutiveFailures(3), openDuration: "300 millis" }
            }),
            Prometheus.layer(),
            FetchHttpClient.layer,
            Logger.replace(Logger.defaultLogger, logger)
          )
        )
      )
      const breakerLines = lines.filter((line) => line.startsWith("Circuit breaker for "))
      expect(breakerLines[0]).toBe("Circuit breaker for openai: CLOSED -> OPEN (failures: 3)")
      expect(breakerLines.at(-2)).toBe("Circuit breaker for openai: OPEN -> HALF_OPEN")
      expect(breakerLines.at(-1)).toBe("Circuit breaker for openai: HALF_OPEN -> CLOSED")
      expect(breakerLines.every((line) => line.startsWith("Circuit breaker for openai: "))).toBe(true)

      expect(
        lines.some((line) => /^load #\d+ at [\d.]+s: degraded: ollama ok, openai failed \[breaker OPEN\]: /.test(line))
      )
        .toBe(true)
      // the first probe succeeded: the page is whole again, the breaker not yet closed (2 probes close it)
      expect(lines.some((line) => /^load #\d+ at [\d.]+s: ok: ollama ok, openai ok \[breaker HALF_OPEN\]$/.test(line)))
        .toBe(true)
      const done = lines.find((line) => line.startsWith("load done: "))
      const [, requests, ok, degraded, down, failed] =
        /(\d+) requests: (\d+) ok, (\d+) degraded, (\d+) down, (\d+) failed/
          .exec(done ?? "")!.map(Number)
      expect(requests).toBe(80) // 4 s / 50 ms: counted, not timed
      expect(requests).toBe(ok! + degraded!)
      expect([down, failed]).toEqual([0, 0])
      expect(degraded).toBeGreaterThan(0)
      const final = lines.find((line) => line.startsWith("final heartbeat: "))!
      expect(JSON.parse(final.slice("final heartbeat: ".length))).toMatchObject({
        status: "ok",
        breakers: { ollama: { state: "CLOSED" }, openai: { state: "CLOSED", consecutive_failures: 0 } },
        jobs: null
      })
    }), { timeout: 20_000 })
})
