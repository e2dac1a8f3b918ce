import * as OrpheusEmulator from "@bulwark/emulators/OrpheusEmulator"
import { FetchHttpClient, HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, FastCheck, Fiber, Schedule } from "effect"
import * as ClientErrors from "../src/ClientErrors.js"
import * as Orpheus from "../src/Orpheus.js"
import { eventually } from "./utils/clock.js"
import * as FaultWindow from "./utils/faultWindow.js"

const fastRetry = { base: "10 millis", maxDelay: "20 millis" } as const

interface Sent {
  readonly url: string
  readonly body: Record<string, unknown>
  /** When it was sent, in Clock milliseconds. */
  readonly at: number
}

/** An emulator (on `clock`), and the client pointed at it for its model, recording what it sends. */
const setup = (emulator: OrpheusEmulator.Options = {}, options: Orpheus.Options = {}, clock = Clock.make()) =>
  Effect.gen(function*() {
    const server = yield* OrpheusEmulator.make(emulator).pipe(Effect.withClock(clock))
    const sent: Array<Sent> = []
    const record = (client: HttpClient.HttpClient) =>
      HttpClient.tapRequest(client, (request) =>
        Effect.map(Clock.currentTimeMillis, (at) => {
          const body = request.body._tag === "Uint8Array"
            ? JSON.parse(new TextDecoder().decode(request.body.body)) as Record<string, unknown>
            : {}
          sent.push({ url: request.url + "?" + new URLSearchParams(request.urlParams as any).toString(), body, at })
        }))
    const orpheus = yield* Orpheus.make({
      transformClient: record,
      ...options,
      urls: { [emulator.model ?? "base"]: server.url, ...options.urls },
      policy: { ...options.policy, retry: { ...fastRetry, ...(options.policy || {}).retry } }
    }).pipe(Effect.provide(FetchHttpClient.layer))
    return { server, orpheus, sent }
  })

const midiOf = (bytes: Uint8Array) => new TextDecoder().decode(bytes.subarray(0, 4))

/** The emulator's request count, once it has read every request sent (an abandoned one can be read late). */
const requestsReach = (server: OrpheusEmulator.Service, count: number) =>
  eventually(Effect.map(server.stats, (stats) => stats.requests >= count), `${count} requests`).pipe(
    Effect.zipRight(Effect.map(server.stats, (stats) => stats.requests))
  )

/** Until the emulator's only GPU slot is taken: a request sent after it meets a busy GPU. */
const taken = (server: OrpheusEmulator.Service) =>
  Effect.repeat(server.gpu, { until: (gpu) => gpu.inUse === 1, schedule: Schedule.spaced("2 millis") })

describe("Orpheus", () => {
  it.scopedLive("generate decodes every variation and sends client_job_id in the body and the query", () =>
    Effect.gen(function*() {
      const { orpheus, sent, server } = yield* setup({ seed: 3 })
      const result = yield* orpheus.generate({ maxTokens: 64, numVariations: 2, clientJobId: "job-1", temperature: 0 })
      expect(result.task).toBe("generate")
      expect(result.variations).toHaveLength(2)
      for (const variation of result.variations) {
        expect(midiOf(variation.midi)).toBe("MThd")
        expect(variation.numTokens).toBeLessThanOrEqual(64)
      }
      expect(result.clientJobId).toBe("job-1")
      expect(result.meta).toMatchObject({ service: "orpheus-base", clientJobId: "job-1" })
      expect(sent).toHaveLength(1)
      expect(sent[0]!.url).toContain("client_job_id=job-1")
      // hootenanny's defaults filled client-side; temperature 0 clamped to the v2 minimum
      expect(sent[0]!.body).toEqual({
        task: "generate",
        model: "base",
        temperature: 0.01,
        top_p: 0.95,
        max_tokens: 64,
        num_variations: 2,
        client_job_id: "job-1"
      })
      const stats = yield* server.stats
      expect(stats.clientJobIds).toEqual(["job-1"])
      expect(stats.responses).toEqual({ "200": 1 })
    }))

  it.scopedLive("a call without a client_job_id gets one of its own", () =>
    Effect.gen(function*() {
      const { orpheus, server } = yield* setup()
      const result = yield* orpheus.generate({ maxTokens: 8 })
      expect(result.clientJobId).toMatch(/^bulwark-[0-9a-f]{32}$/)
      expect((yield* server.stats).clientJobIds).toEqual([result.clientJobId])
    }))

  it.scopedLive("generateSeeded, continue, bridge, loops and classify send MIDI as base64 and decode", () =>
    Effect.gen(function*() {
      const { orpheus, sent } = yield* setup({ seed: 1 })
      const prompt = (yield* orpheus.generate({ maxTokens: 60 })).variations[0]!.midi
      const seeded = yield* orpheus.generateSeeded({ midi: prompt, maxTokens: 32, clientJobId: "s-1" })
      expect(seeded.task).toBe("generate_seeded")
      const continued = yield* orpheus.continue({ midi: prompt, maxTokens: 32, numVariations: 3 })
      expect(continued.variations).toHaveLength(3)
      expect(sent[2]!.body.midi_input).toBe(Buffer.from(prompt).toString("base64"))

      const bridge = yield* setup({ model: "bridge" })
      const bridged = yield* bridge.orpheus.bridge({ sectionA: prompt, sectionB: prompt, maxTokens: 16 })
      expect(bridged.task).toBe("bridge")
      expect(bridged.variations).toHaveLength(1)
      expect(Object.keys(bridge.sent[0]!.body).sort()).toEqual(
        ["client_job_id", "max_tokens", "section_a", "section_b", "temperature", "top_p"]
      )

      const loops = yield* setup({ model: "loops" })
      const looped = yield* loops.orpheus.loops({ seed: prompt, numVariations: 2, maxTokens: 16 })
      expect(looped.task).toBe("loops")
      expect(looped.variations.map((variation) => midiOf(variation.midi))).toEqual(["MThd", "MThd"])
      expect(loops.sent[0]!.body.seed_midi).toBe(Buffer.from(prompt).toString("base64"))

      const classifier = yield* setup({ model: "classifier" })
      const verdict = yield* classifier.orpheus.classify({ midi: prompt, clientJobId: "c-1" })
      expect(verdict.probabilities.human + verdict.probabilities.ai).toBeCloseTo(1)
      expect(verdict.isHuman).toBe(verdict.probabilities.human > 0.5)
      expect(verdict.numTokens).toBeGreaterThanOrEqual(10)
      expect(verdict.meta?.clientJobId).toBe("c-1")

      expect(yield* orpheus.health()).toEqual({ status: "ok", service: "orpheus-base", version: "2.0.0" })
    }))

  it.scopedLive("refuses bad input before sending, naming the field", () =>
    Effect.gen(function*() {
      const { orpheus, server } = yield* setup()
      const midi = new Uint8Array([0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6])
      const cases: Array<[Effect.Effect<unknown, Orpheus.OrpheusError>, string]> = [
        [orpheus.generate({ clientJobId: "has space" }), "clientJobId"],
        [orpheus.generate({ clientJobId: "" }), "clientJobId"],
        [orpheus.generate({ clientJobId: "x".repeat(257) }), "clientJobId"],
        [orpheus.generate({ temperature: 2.5 }), "temperature"],
        [orpheus.generate({ temperature: -0.1 }), "temperature"],
        [orpheus.generate({ temperature: Number.NaN }), "temperature"],
        [orpheus.generate({ topP: 1.5 }), "topP"],
        [orpheus.generate({ maxTokens: 0 }), "maxTokens"],
        [orpheus.generate({ maxTokens: 8193 }), "maxTokens"],
        [orpheus.generate({ maxTokens: 1.5 }), "maxTokens"],
        [orpheus.generate({ numVariations: 9 }), "numVariations"],
        [orpheus.continue({ midi: new Uint8Array([1, 2, 3, 4]) }), "midi"],
        [orpheus.generateSeeded({ midi, model: "children" }), "model"],
        [orpheus.bridge({ sectionA: new Uint8Array() }), "sectionA"]
      ]
      for (const [call, field] of cases) {
        const error = yield* Effect.flip(call)
        expect(error._tag, field).toBe("InvalidInput")
        expect(error).toBeInstanceOf(ClientErrors.InvalidInput)
        expect((error as ClientErrors.InvalidInput).field).toBe(field)
        expect((error as ClientErrors.InvalidInput).service).toMatch(/^orpheus-/)
        expect(error.message).toContain(field)
      }
      expect((yield* server.stats).requests).toBe(0)
    }))

  it.scopedLive("client_job_id: sent iff it matches ^[a-zA-Z0-9._:-]{1,256}$", () =>
    Effect.gen(function*() {
      const { orpheus, server } = yield* setup()
      const pattern = /^[a-zA-Z0-9._:-]{1,256}$/
      const ids = FastCheck.sample(
        FastCheck.oneof(
          FastCheck.string({ minLength: 0, maxLength: 300 }),
          FastCheck.stringMatching(/^[a-zA-Z0-9._:-]{1,256}$/),
          FastCheck.uuid()
        ),
        { numRuns: 60, seed: 42 }
      )
      let accepted = 0
      for (const id of ids) {
        const result = yield* Effect.either(orpheus.generate({ clientJobId: id, maxTokens: 4 }))
        if (pattern.test(id)) {
          expect(result._tag, id).toBe("Right")
          accepted++
        } else {
          expect(result._tag === "Left" && result.left._tag, id).toBe("InvalidInput")
        }
      }
      expect(accepted).toBeGreaterThan(10)
      expect((yield* server.stats).clientJobIdRequests).toBe(accepted)
    }))

  // on its own (the file's other tests not beside it): each test needs its request to meet a GPU held for a while
  describe.sequential("a busy GPU", () => {
    /**
     * The first job holds the GPU for 0.5 to 1 s (4 ms a token, 128 to 256 tokens); the second, sent once
     * the first has the GPU, meets it busy and is itself done in 32 ms at most.
     */
    const contend = (busy: OrpheusEmulator.Busy) =>
      Effect.gen(function*() {
        const { orpheus, sent, server } = yield* setup(
          { capacity: 1, millisPerToken: 4, busy, retryAfterSeconds: 30, retryAfterMs: 100 },
          // one attempt: the busy answers must not use it up
          { policy: { retry: { maxAttempts: 1 } } }
        )
        const first = yield* Effect.fork(orpheus.generate({ maxTokens: 256, clientJobId: "first" }))
        yield* taken(server)
        const second = yield* orpheus.generate({ maxTokens: 8, clientJobId: "second" })
        const tries = sent.filter((one) => one.body.client_job_id === "second").map((one) => one.at)
        return { first: yield* Fiber.join(first), second, tries, stats: yield* server.stats }
      })

    /** The gaps between one caller's tries: each at least the 100 ms the busy answer asked for (1 ms of clock rounding). */
    const expectHintsHonoured = (tries: ReadonlyArray<number>) => {
      expect(tries.length).toBeGreaterThanOrEqual(2)
      for (let i = 1; i < tries.length; i++) expect(tries[i]! - tries[i - 1]!).toBeGreaterThanOrEqual(99)
    }

    it.scopedLive("429 with a hint: the second caller waits it out and succeeds without using an attempt", () =>
      Effect.gen(function*() {
        const { first, second, stats, tries } = yield* contend("429")
        expect([first.clientJobId, second.clientJobId]).toEqual(["first", "second"])
        expect(stats.responses["200"]).toBe(2)
        // every try but the last was a busy answer, each waited out by retry-after-ms (100 ms), never Retry-After (30 s)
        expect(stats.responses["429"]).toBe(tries.length - 1)
        expectHintsHonoured(tries)
      }))

    it.scopedLive("a busy 503 is treated the same", () =>
      Effect.gen(function*() {
        const { stats, tries } = yield* contend("503")
        expect(stats.responses["200"]).toBe(2)
        expect(stats.responses["503"]).toBe(tries.length - 1)
        expectHintsHonoured(tries)
      }))

    // 429 without Retry-After (the exact 5 s default, and a configured one): OrpheusBusy.test.ts, on the TestClock

    it.scopedLive("the total deadline ends the wait with GpuBusy naming the job", () =>
      Effect.gen(function*() {
        const { orpheus, server } = yield* setup(
          { capacity: 1, serviceTime: "3s", retryAfterMs: 100 },
          { policy: { totalTimeout: "1500 millis", attemptTimeout: "400 millis" } }
        )
        // the hog holds the GPU past every deadline
        yield* Effect.fork(Effect.flatMap(bare(server.url), (hog) => hog.generate({ clientJobId: "hog" })))
        yield* taken(server)
        const error = yield* Effect.flip(orpheus.generate({ maxTokens: 4, clientJobId: "job-busy" }))
        expect(error._tag).toBe("GpuBusy")
        const busy = error as Orpheus.GpuBusy
        expect(busy.clientJobId).toBe("job-busy")
        expect(busy.service).toBe("orpheus-base")
        expect(Duration.toMillis(busy.retryAfter)).toBe(100)
        expect(busy.attempts).toBeGreaterThanOrEqual(3)
        expect(busy.reason).toMatch(/deadline/)
        expect(busy.message).toMatch(/^GPU busy, retry after 0\.1s \(client_job_id job-busy, orpheus-base/)
        // every attempt met the busy GPU; when the deadline strikes one in flight, the emulator may not have answered it
        const answered = (yield* server.stats).responses["429"]
        expect(answered).toBeLessThanOrEqual(busy.attempts)
        expect(answered).toBeGreaterThanOrEqual(busy.attempts - 1)
      }))

    it.scopedLive("with retries off, one busy answer is a GpuBusy", () =>
      Effect.gen(function*() {
        const { orpheus, server } = yield* setup({ capacity: 1, serviceTime: "3s", retryAfterSeconds: 7 })
        const hog = yield* Effect.fork(orpheus.generate({ maxTokens: 4 }))
        yield* taken(server)
        const error = yield* Effect.flip(
          Effect.flatMap(bare(orpheus.urls.base), (once) => once.generate({ clientJobId: "once" }))
        )
        yield* Fiber.interrupt(hog)
        expect(error.message).toBe(
          "GPU busy, retry after 7s (client_job_id once, orpheus-base, 1 attempt: retries are off)"
        )
      }))
  })

  describe("faults", () => {
    it.scopedLive("a 422 surfaces its detail, string or list, and is not retried", () =>
      Effect.gen(function*() {
        const { orpheus, server } = yield* setup()
        const notMidi = new Uint8Array([0x4d, 0x54, 0x68, 0x64, 1, 2])
        const error = yield* Effect.flip(orpheus.continue({ midi: notMidi, clientJobId: "bad-midi" }))
        expect(error._tag).toBe("InputRejected")
        const rejected = error as Orpheus.InputRejected
        expect(rejected.detail).toMatch(/^Invalid MIDI/)
        expect(rejected.clientJobId).toBe("bad-midi")
        expect((yield* server.stats).requests).toBe(1)

        // a generate sent to the bridge server: FastAPI's list, section_a missing
        const bridge = yield* OrpheusEmulator.make({ model: "bridge" })
        const misrouted = yield* Orpheus.make({ urls: { base: bridge.url } }).pipe(
          Effect.provide(FetchHttpClient.layer)
        )
        const listed = (yield* Effect.flip(misrouted.generate({ maxTokens: 4 }))) as Orpheus.InputRejected
        expect(listed._tag).toBe("InputRejected")
        expect(listed.issues[0]).toMatchObject({ type: "missing", loc: ["body", "section_a"] })
        expect(listed.message).toContain("section_a: Field required")
        expect((yield* bridge.stats).requests).toBe(1)
      }))

    it.scopedLive("5xx and resets are retried up to maxAttempts, then RetriesExhausted", () =>
      Effect.gen(function*() {
        for (const faults of ["status=500", "reset"]) {
          const { orpheus, server } = yield* setup({ faults })
          const error = yield* Effect.flip(orpheus.generate({ maxTokens: 4, clientJobId: "j" }))
          expect(error._tag, faults).toBe("RetriesExhausted")
          expect((yield* server.stats).requests, faults).toBe(3)
        }
      }))

    it.scopedLive("a 503 or 429 window is waited out exactly, by its hint", () =>
      Effect.gen(function*() {
        for (const faults of ["status=503@0ms-300ms", "status=429@0ms-300ms"]) {
          // the emulator's clock stands still until the first answer: its hint is the whole window (300 ms,
          // not the 1 ms of retryAfterMs), and the retry finds the window over
          const window = FaultWindow.make()
          const { orpheus, server } = yield* setup({ faults, retryAfterMs: 1 }, {
            policy: { retry: { maxAttempts: 2 } },
            transformClient: window.skipAfter(1, "1 second")
          }, window.clock)
          const start = yield* Clock.currentTimeMillis
          yield* orpheus.generate({ maxTokens: 4 })
          expect((yield* Clock.currentTimeMillis) - start, faults).toBeGreaterThanOrEqual(299)
          expect((yield* server.stats).requests, faults).toBe(2)
        }
      }))

    it.scopedLive("a 404 is rejected at once", () =>
      Effect.gen(function*() {
        const { orpheus, server } = yield* setup({ faults: "status=404" })
        const error = yield* Effect.flip(orpheus.generate({ maxTokens: 4 }))
        expect(error._tag).toBe("HttpRejected")
        expect((yield* server.stats).requests).toBe(1)
      }))

    it.scopedLive("latency past the attempt timeout is retried, then gives up", () =>
      Effect.gen(function*() {
        // an attempt timeout long enough for a request to reach the emulator on a loaded machine
        const { orpheus, server } = yield* setup({ faults: "latency=2s" }, {
          policy: { attemptTimeout: "500 millis", retry: { maxAttempts: 2 } }
        })
        const error = yield* Effect.flip(orpheus.generate({ maxTokens: 4, clientJobId: "slow" }))
        expect(error._tag).toBe("RetriesExhausted")
        expect(error.message).toContain("timed out")
        expect(yield* requestsReach(server, 2)).toBe(2)
      }))

    it.scopedLive("wrong content type, truncated JSON and missing variations are MalformedResponse", () =>
      Effect.gen(function*() {
        for (const faults of ["wrong-content-type", "truncated-json"]) {
          const { orpheus } = yield* setup({ faults })
          const error = yield* Effect.flip(orpheus.generate({ maxTokens: 4 }))
          expect(error._tag, faults).toBe("MalformedResponse")
          expect(error.message, faults).toContain("orpheus-base POST /predict answered 200")
        }
        // the classifier's answer where a generation was expected: no variations
        const classifier = yield* OrpheusEmulator.make({ model: "classifier" })
        const wrong = yield* Orpheus.make({ urls: { base: classifier.url } }).pipe(
          Effect.provide(FetchHttpClient.layer)
        )
        const midi = (yield* (yield* setup()).orpheus.generate({ maxTokens: 60 })).variations[0]!.midi
        const error = yield* Effect.flip(wrong.generateSeeded({ midi }))
        expect(error._tag).toBe("MalformedResponse")
        expect(error.message).toContain("variations")
      }))

    it.scopedLive("a slow body still decodes", () =>
      Effect.gen(function*() {
        const { orpheus } = yield* setup({ faults: "slow-body=100ms" })
        const result = yield* orpheus.generate({ maxTokens: 8 })
        expect(result.variations).toHaveLength(1)
      }))

    it.scopedLive("the body is read inside the attempt: a stalled body is an attempt timeout, retried", () =>
      Effect.gen(function*() {
        const policy = { attemptTimeout: "500 millis", retry: { maxAttempts: 2 } } as const
        // the first answer's body trickles past the attempt timeout; the emulator's clock stands still until
        // its headers are in, then leaves the window, so the retry's body comes at once
        const window = FaultWindow.make()
        const { orpheus, server } = yield* setup(
          { faults: "slow-body=5s@0ms-1s" },
          { policy, transformClient: window.skipAfter(1, "1 second") },
          window.clock
        )
        const result = yield* orpheus.generate({ maxTokens: 8, clientJobId: "stalled" })
        expect(result.variations).toHaveLength(1)
        expect((yield* server.stats).requests).toBe(2)
        // always stalled: the attempts run out long before the 15 minute deadline, and before one 5 s body
        const stalled = yield* setup({ faults: "slow-body=5s" }, { policy })
        const start = yield* Clock.currentTimeMillis
        const error = yield* Effect.flip(stalled.orpheus.generate({ maxTokens: 8 }))
        expect(error).toMatchObject({ _tag: "RetriesExhausted", attempts: 2, lastError: { _tag: "AttemptTimedOut" } })
        expect((yield* Clock.currentTimeMillis) - start).toBeLessThan(4000)
        expect(yield* requestsReach(stalled.server, 2)).toBe(2)
      }))

    it.scopedLive("a server that is not running is a ConnectionFailed naming the port", () =>
      Effect.gen(function*() {
        const port = yield* Effect.scoped(Effect.map(OrpheusEmulator.make(), (server) => server.port))
        const orpheus = yield* Orpheus.make({
          urls: { base: `http://127.0.0.1:${port}` },
          policy: { retry: { ...fastRetry, maxAttempts: 2 } }
        }).pipe(Effect.provide(FetchHttpClient.layer))
        const error = yield* Effect.flip(orpheus.generate())
        expect(error._tag).toBe("RetriesExhausted")
        expect(error.message).toContain(`127.0.0.1:${port}`)
      }))
  })
})

/** A client without any policy: one request per call. */
const bare = (url: string) =>
  Orpheus.make({ urls: { base: url }, policy: false }).pipe(Effect.provide(FetchHttpClient.layer))
