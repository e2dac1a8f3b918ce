import * as ResilientClient from "@bulwark/http/ResilientClient"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Faults from "../src/Faults.js"
import * as OrpheusEmulator from "../src/OrpheusEmulator.js"

describe("docs/emulators.md", () => {
  it("shows only code the tests run", () => expectDocRegions("emulators.md", __filename))

  it("timeline", () => {
    // #region timeline
    const timeline = Either.getOrThrow(Faults.parse("seed=7; status=503@5s-15s; latency=20ms..80ms"))
    const at = (seconds: number) => Faults.decide(timeline, seconds * 1000, () => 0.5)

    expect(at(1)).toMatchObject({ status: undefined, delayMillis: 50 })
    expect(at(5)).toMatchObject({ status: 503, statusEndsInMillis: 10_000 })
    expect(at(15)).toMatchObject({ status: undefined })
    // #endregion
  })

  it.live("outage", () => {
    // #region outage
    const program = Effect.gen(function*() {
      // healthy for 200 ms, 503 for the next 800 ms, then healthy again
      const orpheus = yield* OrpheusEmulator.make({ faults: "status=503@200ms-1s", serviceTime: "5ms" })
      const client = yield* ResilientClient.make({
        service: "orpheus",
        policy: { retry: { maxAttempts: 10, base: "100 millis", maxDelay: "200 millis" } }
      })
      const generate = HttpClientRequest.post(`${orpheus.url}/predict`).pipe(
        HttpClientRequest.bodyUnsafeJson({ task: "generate", max_tokens: 16 })
      )
      yield* Effect.sleep("250 millis") // into the outage
      const response = yield* client.execute(generate, { clientJobId: "job-42" })

      expect(response.status).toBe(200)
      const stats = yield* orpheus.stats
      expect(stats.rejections["503"]).toBeGreaterThanOrEqual(1)
      expect(stats.faults["status-503"]).toBe(stats.rejections["503"])
      expect(stats.clientJobIds).toEqual(["job-42"])
    })
    // #endregion
    return program.pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  })

  it.live("stats-route", () => {
    // #region stats-route
    const program = Effect.gen(function*() {
      const orpheus = yield* OrpheusEmulator.make({ serviceTime: "10ms" })
      yield* Effect.promise(() => fetch(`${orpheus.url}/health`))
      const stats = yield* Effect.promise(() =>
        fetch(`${orpheus.url}/_emulator/stats`).then((response) => response.json())
      )

      expect(stats).toMatchObject({ service: "orpheus-base", requests: 1, responses: { 200: 1 } })
    })
    // #endregion
    return program.pipe(Effect.scoped)
  })
})
