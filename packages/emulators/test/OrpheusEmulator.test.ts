import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Effect, Either, Exit, FastCheck as fc, Fiber, Option, TestClock } from "effect"
import { Buffer } from "node:buffer"
import * as EmulatorStats from "../src/EmulatorStats.js"
import * as Gpu from "../src/internal/orpheusGpu.js"
import * as Midi from "../src/internal/orpheusMidi.js"
import * as OrpheusOptions from "../src/internal/orpheusOptions.js"
import * as Request from "../src/internal/orpheusRequest.js"
import * as OrpheusRoutes from "../src/internal/orpheusRoutes.js"
import * as OrpheusEmulator from "../src/OrpheusEmulator.js"
import { pollUntil } from "./utils/testClock.js"

interface Answer {
  readonly status: number
  readonly headers: Record<string, string>
  readonly text: string
  readonly body: any
}

const call = (url: string, init: RequestInit = {}) =>
  Effect.promise(async (): Promise<Answer> => {
    const response = await fetch(url, init)
    const text = await response.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = undefined
    }
    return { status: response.status, headers: Object.fromEntries(response.headers), text, body }
  })

const predict = (emulator: { url: string }, body: unknown, query = "") =>
  call(`${emulator.url}/predict${query}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })

const midiOf = (notes: number) => Midi.encodeBase64(Midi.synthesize(() => 0.5, notes * Midi.tokensPerNote, "poly"))
const decode = (base64: string) => new Uint8Array(Buffer.from(base64, "base64"))

describe("OrpheusEmulator", () => {
  describe("routes", () => {
    it.live("GET /health answers the v2 shape with each model's service name", () =>
      Effect.gen(function*() {
        for (const model of ["base", "classifier", "bridge", "loops", "children", "mono_melodies"] as const) {
          const emulator = yield* OrpheusEmulator.make({ model })
          expect(emulator.service).toBe(OrpheusEmulator.services[model])
          expect((yield* call(`${emulator.url}/health`)).body).toEqual({
            status: "ok",
            service: OrpheusEmulator.services[model],
            version: "2.0.0"
          })
        }
        expect(OrpheusEmulator.services.mono_melodies).toBe("orpheus-mono")
      }).pipe(Effect.scoped))

    it.live("unknown routes and methods get FastAPI's answers", () =>
      Effect.gen(function*() {
        const emulator = yield* OrpheusEmulator.make()
        expect(yield* call(`${emulator.url}/nope`)).toMatchObject({ status: 404, body: { detail: "Not Found" } })
        expect(yield* call(`${emulator.url}/predict`)).toMatchObject({
          status: 405,
          body: { detail: "Method Not Allowed" }
        })
      }).pipe(Effect.scoped))
  })

  describe("generators", () => {
    it.live("generate with the defaults: one variation of valid MIDI, ≤ 1024 tokens, meta", () =>
      Effect.gen(function*() {
        const emulator = yield* OrpheusEmulator.make()
        const answer = yield* predict(emulator, {})
        expect(answer.status).toBe(200)
        expect(answer.body.task).toBe("generate")
        expect(answer.body.variations).toHaveLength(1)
        const [variation] = answer.body.variations
        expect(variation.num_tokens).toBeGreaterThan(0)
        expect(variation.num_tokens).toBeLessThanOrEqual(1024)
        const bytes = decode(variation.midi_base64)
        expect(Buffer.from(bytes.subarray(0, 4)).toString("latin1")).toBe("MThd")
        expect(Midi.read(bytes)).toEqual({ tracks: 1, notes: expect.any(Number) })
        expect(answer.body.meta).toEqual({
          service: "orpheus-base",
          trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
          span_id: expect.stringMatching(/^[0-9a-f]{16}$/)
        })
      }).pipe(Effect.scoped))

    it.live("num_variations, max_tokens and every task of base; model in the body is ignored", () =>
      Effect.gen(function*() {
        const emulator = yield* OrpheusEmulator.make()
        for (const task of ["generate", "generate_seeded", "continue"]) {
          const answer = yield* predict(emulator, {
            task,
            midi_input: midiOf(8),
            max_tokens: 64,
            num_variations: 3,
            model: "children"
          })
          expect(answer.status).toBe(200)
          expect(answer.body.task).toBe(task)
          expect(answer.body.variations).toHaveLength(3)
          for (const variation of answer.body.variations) {
            expect(variation.num_tokens).toBeLessThanOrEqual(64)
            expect(Midi.read(decode(variation.midi_base64))).toMatchObject({ tracks: 1 })
          }
        }
      }).pipe(Effect.scoped))

    it.live("bridge answers exactly one variation; loops reads seed_midi and ignores seed", () =>
      Effect.gen(function*() {
        const bridge = yield* OrpheusEmulator.make({ model: "bridge" })
        const bridged = yield* predict(bridge, { section_a: midiOf(4), section_b: "unused", num_variations: 3 })
        expect(bridged.status).toBe(200)
        expect(bridged.body.task).toBe("bridge")
        expect(bridged.body.variations).toHaveLength(1)

        const loops = yield* OrpheusEmulator.make({ model: "loops" })
        const plain = yield* predict(loops, { num_variations: 2, max_tokens: 30 })
        const seeded = yield* predict(loops, { num_variations: 2, max_tokens: 30, seed: "not even base64!" })
        expect(plain.body.task).toBe("loops")
        expect(seeded.body.variations).toEqual(plain.body.variations)
        const withSeedMidi = yield* predict(loops, { num_variations: 2, max_tokens: 30, seed_midi: midiOf(5) })
        expect(withSeedMidi.body.variations).not.toEqual(plain.body.variations)
        expect((yield* predict(loops, { seed_midi: "%%%" })).body).toEqual({
          detail: "Invalid base64 in seed_midi: Only base64 data is allowed"
        })
      }).pipe(Effect.scoped))

    it.live("outputs are a function of the seed and the request", () =>
      Effect.gen(function*() {
        const body = { max_tokens: 90, num_variations: 2, temperature: 0.8 }
        const a = yield* OrpheusEmulator.make({ seed: 7 })
        const b = yield* OrpheusEmulator.make({ seed: 7 })
        const c = yield* OrpheusEmulator.make({ seed: 8 })
        const fromA = (yield* predict(a, body)).body
        expect((yield* predict(b, body)).body).toEqual(fromA)
        expect((yield* predict(a, body)).body.variations).toEqual(fromA.variations)
        expect((yield* predict(c, body)).body.variations).not.toEqual(fromA.variations)
        expect((yield* predict(a, { ...body, temperature: 0.9 })).body.variations).not.toEqual(fromA.variations)
      }).pipe(Effect.scoped))

    it.live("classifier: the classification shape, and 422 under 10 tokens", () =>
      Effect.gen(function*() {
        const emulator = yield* OrpheusEmulator.make({ model: "classifier" })
        const answer = yield* predict(emulator, { midi_input: midiOf(400) })
        expect(answer.status).toBe(200)
        const { classification, num_tokens } = answer.body
        expect(num_tokens).toBe(1024)
        expect(classification.probabilities.human + classification.probabilities.ai).toBeCloseTo(1)
        expect(classification.is_human).toBe(classification.probabilities.human > 0.5)
        expect(classification.confidence).toBeGreaterThanOrEqual(0.5)
        expect(yield* predict(emulator, { midi_input: midiOf(3) })).toMatchObject({
          status: 422,
          body: { detail: "MIDI too short: 9 tokens, need at least 10" }
        })
        expect((yield* predict(emulator, { midi: midiOf(40) })).body.detail[0]).toMatchObject({
          type: "missing",
          loc: ["body", "midi_input"],
          msg: "Field required"
        })
      }).pipe(Effect.scoped))
  })

  describe("422", () => {
    it.live("pydantic's error list for types, ranges and literals", () =>
      Effect.gen(function*() {
        const emulator = yield* OrpheusEmulator.make()
        const answer = yield* predict(emulator, { temperature: 0, top_p: 1.5, max_tokens: 8193, task: "remix" })
        expect(answer.status).toBe(422)
        expect(answer.body.detail).toEqual([
          {
            type: "literal_error",
            loc: ["body", "task"],
            msg: "Input should be 'generate', 'generate_seeded' or 'continue'",
            input: "remix",
            ctx: { expected: "'generate', 'generate_seeded' or 'continue'" }
          },
          {
            type: "greater_than_equal",
            loc: ["body", "temperature"],
            msg: "Input should be greater than or equal to 0.01",
            input: 0,
            ctx: { ge: 0.01 }
          },
          {
            type: "less_than_equal",
            loc: ["body", "top_p"],
            msg: "Input should be less than or equal to 1.0",
            input: 1.5,
            ctx: { le: 1 }
          },
          {
            type: "less_than_equal",
            loc: ["body", "max_tokens"],
            msg: "Input should be less than or equal to 8192",
            input: 8193,
            ctx: { le: 8192 }
          }
        ])
        expect((yield* predict(emulator, { num_variations: 2.5 })).body.detail[0]).toMatchObject({
          type: "int_from_float",
          loc: ["body", "num_variations"]
        })
        expect((yield* predict(emulator, { max_tokens: "12" })).status).toBe(200)
        expect((yield* predict(emulator, "{not json")).body.detail[0]).toMatchObject({ type: "json_invalid" })
        expect((yield* predict(emulator, "[1]")).body.detail[0]).toMatchObject({ type: "model_attributes_type" })
        const children = yield* OrpheusEmulator.make({ model: "children" })
        expect((yield* predict(children, { task: "generate_seeded" })).body.detail[0]).toMatchObject({
          type: "literal_error",
          msg: "Input should be 'generate' or 'continue'"
        })
        const stats = yield* emulator.stats
        expect(stats.rejections).toEqual({ 422: 4 })
      }).pipe(Effect.scoped))

    it.live("the handlers' own checks: missing, bad base64, bad MIDI", () =>
      Effect.gen(function*() {
        const emulator = yield* OrpheusEmulator.make()
        const detail = (body: unknown) => Effect.map(predict(emulator, body), (answer) => answer.body.detail)
        expect(yield* detail({ task: "continue" })).toBe("continue requires midi_input")
        expect(yield* detail({ task: "generate_seeded", midi_input: "abc" })).toBe("Invalid base64: Incorrect padding")
        expect(yield* detail({ task: "continue", midi_input: Buffer.from("RIFF....").toString("base64") })).toBe(
          "Invalid MIDI: MThd not found. Probably not a MIDI file"
        )
        const bridge = yield* OrpheusEmulator.make({ model: "bridge" })
        expect((yield* predict(bridge, {})).body.detail[0]).toMatchObject({
          type: "missing",
          loc: ["body", "section_a"],
          input: {}
        })
        expect((yield* predict(bridge, { section_a: "a b" })).body.detail).toBe(
          "Invalid base64 in section_a: Only base64 data is allowed"
        )
      }).pipe(Effect.scoped))
  })

  describe("client_job_id", () => {
    it.live("from the body or the query (the query wins), echoed and recorded; invalid ones dropped", () =>
      Effect.gen(function*() {
        const emulator = yield* OrpheusEmulator.make()
        const fromBody = yield* predict(emulator, { client_job_id: "7582596e-3cdf-4c8d-a2e7-65279f491c57" })
        expect(fromBody.body.meta.client_job_id).toBe("7582596e-3cdf-4c8d-a2e7-65279f491c57")
        const fromQuery = yield* predict(emulator, { client_job_id: "body-id" }, "?client_job_id=job%3A1.a_b")
        expect(fromQuery.body.meta.client_job_id).toBe("job:1.a_b")
        const invalid = yield* predict(emulator, { client_job_id: "has space" })
        expect(invalid.status).toBe(200)
        expect(invalid.body.meta).not.toHaveProperty("client_job_id")
        expect((yield* predict(emulator, { client_job_id: "x".repeat(257) })).body.meta).not.toHaveProperty(
          "client_job_id"
        )
        expect((yield* predict(emulator, { client_job_id: 42 })).body.meta).not.toHaveProperty("client_job_id")
        // even a refused request counts its id
        expect((yield* predict(emulator, { client_job_id: "refused", temperature: 9 })).status).toBe(422)
        const stats = yield* emulator.stats
        expect(stats.clientJobIds).toEqual(["7582596e-3cdf-4c8d-a2e7-65279f491c57", "job:1.a_b", "refused"])
        expect(stats.clientJobIdRequests).toBe(3)
      }).pipe(Effect.scoped))
  })

  // On the TestClock (all but the live test of many requests at once): a slot stays taken, however slow the
  // machine, until the test moves the clock on.
  describe("busy GPU", () => {
    /**
     * Waits until the GPU state satisfies `done` and every slot in use is sleeping out its service time
     * on the TestClock, so that adjusting the clock moves exactly that work on.
     */
    const settled = (emulator: OrpheusEmulator.Service, done: (gpu: OrpheusEmulator.GpuState) => boolean) =>
      Effect.flatMap(TestClock.testClock(), (clock) =>
        pollUntil(
          Effect.zip(emulator.gpu, clock.sleeps),
          ([gpu, sleeps]) => done(gpu) && Chunk.size(sleeps) >= gpu.inUse
        ))

    /** A request that takes the only slot, then a second one while it is taken; the first is left running. */
    const whileBusy = (emulator: OrpheusEmulator.Service) =>
      Effect.gen(function*() {
        const first = yield* Effect.fork(predict(emulator, { max_tokens: 8 }))
        yield* settled(emulator, (gpu) => gpu.inUse === 1)
        const second = yield* predict(emulator, { max_tokens: 8 })
        return { first, second }
      })

    it.scoped("429 with Retry-After and the GPU-busy body while the slot is taken", () =>
      Effect.gen(function*() {
        const emulator = yield* OrpheusEmulator.make({ serviceTime: "150ms" })
        const { first, second } = yield* whileBusy(emulator)
        expect(second).toMatchObject({
          status: 429,
          headers: { "retry-after": "30" },
          body: { error: "GPU busy", message: "Another request is being processed" }
        })
        expect(second.headers).not.toHaveProperty("retry-after-ms")
        yield* TestClock.adjust("150 millis")
        expect((yield* Fiber.join(first)).status).toBe(200)
        const stats = yield* emulator.stats
        expect(stats.responses).toEqual({ 200: 1, 429: 1 })
        // one service time: the refused request took no GPU time
        expect(stats.busyMillis).toBe(150)
        expect(yield* emulator.gpu).toEqual({ capacity: 1, inUse: 0, waiting: 0 })
      }))

    it.scoped("busyHint remaining: the hints say when the GPU frees, as a server that knows its queue would", () =>
      Effect.gen(function*() {
        const emulator = yield* OrpheusEmulator.make({ serviceTime: "300ms", busyHint: "remaining" })
        const { second } = yield* whileBusy(emulator)
        expect(second).toMatchObject({ status: 429, headers: { "retry-after": "1", "retry-after-ms": "300" } })
        yield* TestClock.adjust("120 millis")
        const later = yield* predict(emulator, { max_tokens: 8 })
        expect(later).toMatchObject({ status: 429, headers: { "retry-after": "1", "retry-after-ms": "180" } })
        const wrong = yield* Effect.flip(OrpheusEmulator.make({ busyHint: "exact" as "fixed" }))
        expect(wrong).toMatchObject({ _tag: "InvalidEmulatorOption", option: "busyHint" })
      }))

    it.live("busyHint remaining: many requests at once on one slot, every hint finite and never negative", () =>
      Effect.gen(function*() {
        const finite = (answer: { status: number; headers: Record<string, string | undefined> }) => {
          if (answer.status === 200) return true
          const seconds = Number(answer.headers["retry-after"])
          const millis = Number(answer.headers["retry-after-ms"])
          // at most 2 ms of work per slot: a hint of more than a second is the fallback, not the remaining time
          return answer.status === 429 && Number.isFinite(seconds) && seconds >= 0 && seconds <= 1 &&
            Number.isFinite(millis) && millis >= 0 && millis <= 2
        }
        // straight into the routes, so that requests interleave at every fiber step
        const config = Either.getOrThrow(OrpheusOptions.settings(
          { serviceTime: "0ms..2ms", busyHint: "remaining" },
          OrpheusEmulator.defaults,
          OrpheusEmulator.services
        ))
        const stats = yield* EmulatorStats.make({ service: config.service })
        const routes = yield* OrpheusRoutes.make(config, stats)
        const direct = Effect.gen(function*() {
          const request = HttpServerRequest.fromWeb(
            new globalThis.Request("http://127.0.0.1/predict", {
              method: "POST",
              body: JSON.stringify({ max_tokens: 8 })
            })
          )
          const response = yield* Effect.provideService(routes.router, HttpServerRequest.HttpServerRequest, request)
          return { status: response.status, headers: response.headers as Record<string, string | undefined> }
        })
        const answers = yield* Effect.all(Array.from({ length: 200 }, () => direct), { concurrency: "unbounded" })
        expect(answers.filter((answer) => answer.status === 429).length).toBeGreaterThan(0)
        expect(answers.filter((answer) => !finite(answer))).toEqual([])
        // and over HTTP
        const emulator = yield* OrpheusEmulator.make({ serviceTime: "0ms..2ms", busyHint: "remaining" })
        const overHttp = yield* Effect.all(
          Array.from({ length: 60 }, () => predict(emulator, { max_tokens: 8 })),
          { concurrency: "unbounded" }
        )
        expect(overHttp.filter((answer) => !finite(answer))).toEqual([])
      }).pipe(Effect.scoped))

    it.scoped("the other busy answers: no Retry-After, Retry-After 0 with retry-after-ms, 503", () =>
      Effect.gen(function*() {
        const bare = yield* OrpheusEmulator.make({ serviceTime: "100ms", busy: "429-no-retry-after" })
        const { second: noHint } = yield* whileBusy(bare)
        expect(noHint.status).toBe(429)
        expect(noHint.headers).not.toHaveProperty("retry-after")
        const fast = yield* OrpheusEmulator.make({ serviceTime: "100ms", retryAfterSeconds: 0, retryAfterMs: 40 })
        const { second: hinted } = yield* whileBusy(fast)
        expect(hinted.headers).toMatchObject({ "retry-after": "0", "retry-after-ms": "40" })
        const guard = yield* OrpheusEmulator.make({ serviceTime: "100ms", busy: "503" })
        const { second: unavailable } = yield* whileBusy(guard)
        expect(unavailable).toMatchObject({
          status: 503,
          body: { detail: "Service is busy processing another request" }
        })
      }))

    it.scoped("queue waits for the GPU; none runs concurrently; capacity 2 admits two", () =>
      Effect.gen(function*() {
        const queued = yield* OrpheusEmulator.make({ serviceTime: "60ms", busy: "queue" })
        const answers = yield* Effect.fork(
          Effect.all([predict(queued, {}), predict(queued, {}), predict(queued, {})], { concurrency: 3 })
        )
        // one on the GPU at a time, the others in line, each served when the one before is done
        for (const waiting of [2, 1, 0]) {
          yield* settled(queued, (gpu) => gpu.inUse === 1 && gpu.waiting === waiting)
          yield* TestClock.adjust("60 millis")
        }
        expect((yield* Fiber.join(answers)).map((answer) => answer.status)).toEqual([200, 200, 200])
        expect(yield* queued.stats).toMatchObject({ busyMillis: 180, windowMillis: 180, utilization: 1 })

        const unguarded = yield* OrpheusEmulator.make({ serviceTime: "60ms", busy: "none" })
        const both = yield* Effect.fork(
          Effect.all([predict(unguarded, {}), predict(unguarded, {})], { concurrency: 2 })
        )
        yield* settled(unguarded, (gpu) => gpu.inUse === 2)
        yield* TestClock.adjust("60 millis")
        expect((yield* Fiber.join(both)).map((answer) => answer.status)).toEqual([200, 200])

        const wide = yield* OrpheusEmulator.make({ serviceTime: "100ms", capacity: 2 })
        const two = yield* Effect.fork(Effect.all([predict(wide, {}), predict(wide, {})], { concurrency: 2 }))
        yield* settled(wide, (gpu) => gpu.inUse === 2)
        expect((yield* predict(wide, {})).status).toBe(429)
        yield* TestClock.adjust("100 millis")
        expect((yield* Fiber.join(two)).map((answer) => answer.status)).toEqual([200, 200])
      }))

    it.scoped("millisPerToken: the GPU time grows with the tokens generated", () =>
      Effect.gen(function*() {
        const emulator = yield* OrpheusEmulator.make({ millisPerToken: 1 })
        const answer = yield* Effect.fork(predict(emulator, { max_tokens: 40, num_variations: 2 }))
        yield* settled(emulator, (gpu) => gpu.inUse === 1)
        // the work sleeps until its end: one millisecond per token from now
        const [end] = yield* TestClock.sleeps()
        const millis = end! - (yield* Clock.currentTimeMillis)
        yield* TestClock.adjust(millis)
        const { body } = yield* Fiber.join(answer)
        const tokens = body.variations.reduce((sum: number, v: { num_tokens: number }) => sum + v.num_tokens, 0)
        expect(millis).toBe(tokens)
        expect((yield* emulator.stats).busyMillis).toBe(tokens)
      }))
  })

  describe("faults", () => {
    // On the TestClock: the request comes at emulator time 0, however slow the machine.
    it.scoped("an injected 429 carries the window's Retry-After, a 500 is Starlette's plain text", () =>
      Effect.gen(function*() {
        const limited = yield* OrpheusEmulator.make({ faults: "status=429@0s-3s", retryAfterMs: 10 })
        const answer = yield* predict(limited, {})
        expect(answer).toMatchObject({ status: 429, body: OrpheusEmulator.busyBodies["429"] })
        expect(answer.headers).toMatchObject({ "retry-after": "3", "retry-after-ms": "3000" })
        const broken = yield* OrpheusEmulator.make({ faults: "status=500" })
        expect(yield* predict(broken, {})).toMatchObject({ status: 500, text: "Internal Server Error" })
        const down = yield* OrpheusEmulator.make({ faults: "status=503" })
        expect(yield* predict(down, {})).toMatchObject({ status: 503, body: { detail: "Service Unavailable" } })
      }))
  })

  describe("options", () => {
    it.scoped("every bad option is refused with InvalidEmulatorOption naming it", () =>
      Effect.gen(function*() {
        const refused = (options: OrpheusEmulator.Options) => Effect.flip(OrpheusEmulator.make(options))
        const cases: Array<[OrpheusEmulator.Options, string]> = [
          [{ model: "piano" as OrpheusEmulator.Model }, "model"],
          [{ capacity: 0 }, "capacity"],
          [{ capacity: 1.5 }, "capacity"],
          [{ busy: "drop" as OrpheusEmulator.Busy }, "busy"],
          [{ retryAfterSeconds: -1 }, "retryAfterSeconds"],
          [{ retryAfterSeconds: 0.5 }, "retryAfterSeconds"],
          [{ retryAfterMs: Number.NaN }, "retryAfterMs"],
          [{ serviceTime: "fast" }, "serviceTime"],
          [{ serviceTime: { _tag: "Fixed", millis: -5 } }, "serviceTime"],
          [{ millisPerToken: Infinity }, "millisPerToken"],
          [{ seed: -1 }, "seed"],
          [{ port: 70000 }, "port"]
        ]
        for (const [options, option] of cases) {
          expect(yield* refused(options)).toMatchObject({ _tag: "InvalidEmulatorOption", option })
        }
        const error = yield* refused({ capacity: 0 })
        expect(error.message).toContain("orpheus-base")
        expect(yield* refused({ faults: "status=9" })).toMatchObject({ _tag: "InvalidFaultSpec" })
      }))
  })

  describe("GPU state machine", () => {
    it.scoped("tryRun turns a request away while every slot is taken, at once", () =>
      Effect.gen(function*() {
        const gpu = Gpu.make(1, yield* Effect.scope)
        const first = yield* Effect.fork(gpu.tryRun(Effect.as(Effect.sleep("100 millis"), "first")))
        yield* TestClock.adjust("1 millis")
        expect(gpu.state()).toEqual({ capacity: 1, inUse: 1, waiting: 0 })
        expect(yield* gpu.tryRun(Effect.succeed("second"))).toEqual(Option.none())
        yield* TestClock.adjust("100 millis")
        expect(yield* Fiber.join(first)).toEqual(Option.some("first"))
        expect(yield* gpu.tryRun(Effect.succeed("third"))).toEqual(Option.some("third"))
        expect(gpu.state().inUse).toBe(0)
      }))

    it.scoped("run serves waiters in arrival order; one that gives up leaves the line", () =>
      Effect.gen(function*() {
        const gpu = Gpu.make(1, yield* Effect.scope)
        const order: Array<string> = []
        const job = (name: string) =>
          gpu.run(Effect.zipRight(Effect.sleep("10 millis"), Effect.sync(() => order.push(name))))
        const a = yield* Effect.fork(job("a"))
        yield* TestClock.adjust("1 millis")
        const b = yield* Effect.fork(job("b"))
        const c = yield* Effect.fork(job("c"))
        const d = yield* Effect.fork(job("d"))
        yield* TestClock.adjust("1 millis")
        expect(gpu.state()).toEqual({ capacity: 1, inUse: 1, waiting: 3 })
        yield* Fiber.interrupt(c)
        expect(gpu.state().waiting).toBe(2)
        yield* TestClock.adjust("50 millis")
        yield* Fiber.joinAll([a, b, d])
        expect(order).toEqual(["a", "b", "d"])
        expect(gpu.state()).toEqual({ capacity: 1, inUse: 0, waiting: 0 })
      }))

    it.scoped("a caller that goes away does not free the slot before the work is done", () =>
      Effect.gen(function*() {
        const gpu = Gpu.make(1, yield* Effect.scope)
        const caller = yield* Effect.fork(gpu.tryRun(Effect.sleep("100 millis")))
        yield* TestClock.adjust("10 millis")
        yield* Fiber.interrupt(caller)
        expect(gpu.state().inUse).toBe(1)
        yield* TestClock.adjust("100 millis")
        expect(gpu.state().inUse).toBe(0)
      }))

    it.effect("closing the emulator's scope stops the work and frees the slots", () =>
      Effect.gen(function*() {
        let gpu: Gpu.Gpu | undefined
        const exit = yield* Effect.scoped(Effect.gen(function*() {
          gpu = Gpu.make(2, yield* Effect.scope)
          yield* Effect.fork(gpu.runUnbounded(Effect.never))
          yield* TestClock.adjust("1 millis")
          expect(gpu.state().inUse).toBe(1)
        })).pipe(Effect.exit)
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(gpu?.state().inUse).toBe(0)
      }))

    it.scoped.prop(
      "at most capacity requests hold a slot, whatever the arrival pattern",
      [fc.integer({ min: 1, max: 4 }), fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 12 })],
      ([capacity, gaps]) =>
        Effect.gen(function*() {
          const gpu = Gpu.make(capacity, yield* Effect.scope)
          let running = 0
          let peak = 0
          const work = Effect.acquireUseRelease(
            Effect.sync(() => (peak = Math.max(peak, ++running))),
            () => Effect.sleep("25 millis"),
            () => Effect.sync(() => running--)
          )
          let admitted = 0
          const fibers = []
          for (const gap of gaps) {
            yield* TestClock.adjust(`${gap} millis`)
            fibers.push(
              yield* Effect.fork(Effect.map(gpu.tryRun(work), (ran) => (admitted += Option.isSome(ran) ? 1 : 0)))
            )
          }
          yield* TestClock.adjust("1 second")
          yield* Fiber.joinAll(fibers)
          expect(peak).toBeLessThanOrEqual(capacity)
          expect(admitted).toBeGreaterThanOrEqual(Math.min(capacity, gaps.length))
          expect(gpu.state().inUse).toBe(0)
        }).pipe(Effect.scoped),
      { fastCheck: { numRuns: 20 } }
    )
  })

  describe("synthetic MIDI and request validation", () => {
    it.prop(
      "every synthesized file reads back with floor(tokens / 3) notes",
      [fc.integer({ min: 0, max: 3000 }), fc.constantFrom<Midi.Voice>("poly", "mono", "drums"), fc.integer()],
      ([tokens, voice, seed]) => {
        let state = seed
        const uniform = () => ((state = (state * 1103515245 + 12345) >>> 0) % 1000) / 1000
        const summary = Midi.read(Midi.synthesize(uniform, tokens, voice))
        expect(summary).toEqual({ tracks: 1, notes: Math.floor(tokens / 3) })
      }
    )

    it.prop(
      "valid numbers pass, out-of-range ones are refused by name",
      [fc.integer({ min: -10, max: 9000 }), fc.integer({ min: -2, max: 10 })],
      ([maxTokens, numVariations]) => {
        const checked = Request.validate("base", { max_tokens: maxTokens, num_variations: numVariations })
        const valid = maxTokens >= 1 && maxTokens <= 8192 && numVariations >= 1 && numVariations <= 8
        expect(checked._tag).toBe(valid ? "Generate" : "Invalid")
        if (checked._tag === "Generate") {
          expect([checked.maxTokens, checked.numVariations]).toEqual([maxTokens, numVariations])
        }
      }
    )

    it("decodes base64 strictly, after stripping whitespace", () => {
      expect(Midi.decodeBase64(" TVRoZA== \n")).toEqual(Uint8Array.from([0x4d, 0x54, 0x68, 0x64]))
      expect(Midi.decodeBase64("TVRoZA=")).toBe("Incorrect padding")
      expect(Midi.read(Uint8Array.from([1, 2, 3]))).toBe("MThd not found. Probably not a MIDI file")
    })
  })
})
