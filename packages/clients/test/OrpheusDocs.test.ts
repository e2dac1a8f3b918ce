import * as OrpheusEmulator from "@bulwark/emulators/OrpheusEmulator"
import { expectDocSection } from "@bulwark/test-support/DocRegions"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import * as Orpheus from "../src/Orpheus.js"

describe("docs/clients/orpheus.section.md", () => {
  it("has exactly this file's regions", () => expectDocSection("clients.md", __filename))

  it.scopedLive("generate", () =>
    Effect.gen(function*() {
      const emulator = yield* OrpheusEmulator.make({ model: "base", seed: 7 })
      // #region orpheus-generate
      const program = Effect.gen(function*() {
        const orpheus = yield* Orpheus.Orpheus
        const piece = yield* orpheus.generate({ maxTokens: 256, numVariations: 2, clientJobId: "job-42" })
        const more = yield* orpheus.continue({ midi: piece.variations[0]!.midi, maxTokens: 128 })
        return { piece, more }
      })

      const { more, piece } = yield* program.pipe(
        Effect.provide(
          Orpheus.layer({ urls: { base: emulator.url } }).pipe(Layer.provide(FetchHttpClient.layer))
        )
      )
      expect(piece.variations).toHaveLength(2)
      expect(piece.meta?.clientJobId).toBe("job-42")
      expect(new TextDecoder().decode(more.variations[0]!.midi.subarray(0, 4))).toBe("MThd")
      // #endregion
    }))

  it.scopedLive("busy", () =>
    Effect.gen(function*() {
      const emulator = yield* OrpheusEmulator.make({ capacity: 1, serviceTime: "2s", retryAfterMs: 100 })
      // #region orpheus-busy
      const orpheus = yield* Orpheus.make({
        urls: { base: emulator.url },
        policy: { totalTimeout: "500 millis", attemptTimeout: "450 millis" }
      }).pipe(Effect.provide(FetchHttpClient.layer))

      yield* Effect.fork(orpheus.generate({ clientJobId: "first" })) // takes the only GPU slot
      yield* Effect.repeat(emulator.gpu, { until: (gpu) => gpu.inUse === 1, schedule: Schedule.spaced("5 millis") })
      const message = yield* orpheus.generate({ clientJobId: "second" }).pipe(
        Effect.catchTag("GpuBusy", (busy) => Effect.succeed(busy.message)),
        Effect.map(String)
      )
      expect(message).toMatch(/^GPU busy, retry after 0\.1s \(client_job_id second, orpheus-base/)
      // #endregion
    }))
})
