import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import * as OrpheusEmulator from "../src/OrpheusEmulator.js"

describe("docs/emulators/orpheus.md", () => {
  it("shows only code that the tests run", () => expectDocRegions("emulators/orpheus.md", __filename))

  it.live("generate", () => {
    // #region generate
    const program = Effect.gen(function*() {
      const orpheus = yield* OrpheusEmulator.make({ model: "base", seed: 7 })
      const response = yield* Effect.promise(() =>
        fetch(`${orpheus.url}/predict?client_job_id=job-1`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ task: "generate", max_tokens: 256, num_variations: 2 })
        }).then((r) => r.json() as Promise<any>)
      )
      expect(response.variations).toHaveLength(2)
      expect(response.variations[0].num_tokens).toBeLessThanOrEqual(256)
      expect(atob(response.variations[0].midi_base64).slice(0, 4)).toBe("MThd")
      expect(response.meta).toMatchObject({ service: "orpheus-base", client_job_id: "job-1" })
      expect((yield* orpheus.stats).clientJobIds).toEqual(["job-1"])
    }).pipe(Effect.scoped)
    // #endregion
    return program
  })

  it.live("busy", () => {
    // #region busy
    const program = Effect.gen(function*() {
      const orpheus = yield* OrpheusEmulator.make({ capacity: 1, serviceTime: "500ms", retryAfterSeconds: 5 })
      const generate = Effect.promise(() =>
        fetch(`${orpheus.url}/predict`, { method: "POST", body: "{}" })
          .then(async (r) => ({ status: r.status, retryAfter: r.headers.get("retry-after"), body: await r.json() }))
      )
      const first = yield* Effect.fork(generate)
      // the second request goes out once the first holds the GPU
      yield* Effect.repeat(orpheus.gpu, { until: (gpu) => gpu.inUse === 1, schedule: Schedule.spaced("1 millis") })
      const second = yield* generate
      expect(second).toEqual({
        status: 429,
        retryAfter: "5",
        body: { error: "GPU busy", message: "Another request is being processed" }
      })
      expect((yield* Fiber.join(first)).status).toBe(200)
      // exactly one service time of GPU work
      expect((yield* orpheus.stats).busyMillis).toBeGreaterThanOrEqual(499)
    }).pipe(Effect.scoped)
    // #endregion
    return program
  })

  it.live("layer", () => {
    // #region layer
    const program = Effect.gen(function*() {
      const loops = yield* OrpheusEmulator.OrpheusEmulator
      const health = yield* Effect.promise(() => fetch(`${loops.url}/health`).then((r) => r.json()))
      expect(health).toEqual({ status: "ok", service: "orpheus-loops", version: "2.0.0" })
      expect(yield* loops.gpu).toEqual({ capacity: 2, inUse: 0, waiting: 0 })
    }).pipe(Effect.provide(OrpheusEmulator.layer({ model: "loops", capacity: 2, busy: "queue" })))
    // #endregion
    return program
  })
})
