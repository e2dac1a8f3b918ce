import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc, Fiber, TestClock } from "effect"

import * as http from "node:http"
import * as Emulator from "../src/Emulator.js"
import * as EmulatorStats from "../src/EmulatorStats.js"
import * as OllamaGeneration from "../src/internal/ollamaGeneration.js"
import * as OllamaModels from "../src/internal/ollamaModels.js"
import * as OllamaOptions from "../src/internal/ollamaOptions.js"
import * as OllamaScheduler from "../src/internal/ollamaScheduler.js"
import * as OllamaText from "../src/internal/ollamaText.js"
import * as Seeded from "../src/internal/seeded.js"
import * as OllamaEmulator from "../src/OllamaEmulator.js"
import { pollUntil, tick } from "./utils/testClock.js"

interface Answer {
  readonly status: number
  readonly type: string | null
  readonly text: string
}

const call = (url: string, init?: { method?: string; body?: unknown; signal?: AbortSignal }) =>
  Effect.promise(async (): Promise<Answer> => {
    try {
      const response = await fetch(url, {
        method: init?.method ?? (init?.body === undefined ? "GET" : "POST"),
        ...(init?.body === undefined
          ? {}
          : { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body) }),
        ...(init?.signal === undefined ? {} : { signal: init.signal })
      })
      return { status: response.status, type: response.headers.get("content-type"), text: await response.text() }
    } catch (error) {
      return { status: 0, type: null, text: String(error) }
    }
  })

/** A raw request whose socket the test can destroy (a client that goes away). */
const open = (url: string, body: unknown) => {
  const request = http.request(url, { method: "POST", agent: false })
  request.on("error", () => {})
  const firstChunk = new Promise<string>((resolve) =>
    request.on("response", (response) => response.once("data", (chunk: Buffer) => resolve(chunk.toString())))
  )
  request.end(JSON.stringify(body))
  return { firstChunk, destroy: () => request.destroy() }
}

const lines = (text: string) => text.trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
const fast = { tokenLatency: "0ms" }

describe("OllamaEmulator routes", () => {
  it.live("/api/generate streams NDJSON by default, ending with the metrics", () =>
    Effect.gen(function*() {
      const ollama = yield* OllamaEmulator.make(fast)
      const answer = yield* call(`${ollama.url}/api/generate`, { body: { model: "llama3.2:3b", prompt: "Why?" } })
      expect(answer.status).toBe(200)
      expect(answer.type).toBe("application/x-ndjson")
      expect(answer.text.endsWith("}\n")).toBe(true)
      const chunks = lines(answer.text)
      const last = chunks[chunks.length - 1]!
      for (const chunk of chunks.slice(0, -1)) {
        expect(Object.keys(chunk).sort()).toEqual(["created_at", "done", "model", "response"])
        expect(chunk).toMatchObject({ model: "llama3.2:3b", done: false })
      }
      expect(chunks[0]!.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/)
      expect(last).toMatchObject({ done: true, done_reason: "stop", response: "", eval_count: chunks.length - 1 })
      for (const field of ["total_duration", "prompt_eval_count", "prompt_eval_duration", "eval_duration"]) {
        expect(Number.isInteger(last[field]), field).toBe(true)
      }
      // no load time configured: a zero metric is left out
      expect(last).not.toHaveProperty("load_duration")
      expect(Array.isArray(last.context)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("non-streaming generate and chat answer one object with the whole text; the same request, the same text", () =>
    Effect.gen(function*() {
      const ollama = yield* OllamaEmulator.make({ ...fast, seed: 3 })
      const generate = { model: "llama3.2:3b", prompt: "Why?", stream: false }
      const one = yield* call(`${ollama.url}/api/generate`, { body: generate })
      const two = yield* call(`${ollama.url}/api/generate`, { body: generate })
      expect(one.type).toBe("application/json; charset=utf-8")
      const first = JSON.parse(one.text)
      expect(first).toMatchObject({ model: "llama3.2:3b", done: true, done_reason: "stop" })
      expect(first.response.split(" ").length).toBe(first.eval_count)
      expect(JSON.parse(two.text).response).toBe(first.response)
      const streamed = lines((yield* call(`${ollama.url}/api/generate`, { body: { ...generate, stream: true } })).text)
      expect(streamed.map((chunk) => chunk.response).join("")).toBe(first.response)
      const chat = JSON.parse(
        (yield* call(`${ollama.url}/api/chat`, {
          body: { model: "qwen2.5-coder:7b", messages: [{ role: "user", content: "hi" }], stream: false }
        })).text
      )
      expect(chat).toMatchObject({ model: "qwen2.5-coder:7b", done: true, message: { role: "assistant" } })
      expect(chat.message.content.length).toBeGreaterThan(0)
      expect(chat).not.toHaveProperty("context")
    }).pipe(Effect.scoped))

  it.live("num_predict cuts the reply: done_reason length", () =>
    Effect.gen(function*() {
      const ollama = yield* OllamaEmulator.make(fast)
      const answer = JSON.parse(
        (yield* call(`${ollama.url}/api/generate`, {
          body: { model: "llama3.2:3b", prompt: "Why?", stream: false, options: { num_predict: 3 } }
        })).text
      )
      expect(answer).toMatchObject({ done_reason: "length", eval_count: 3 })
    }).pipe(Effect.scoped))

  it.live("an empty prompt loads the model, keep_alive 0 unloads it; /api/ps shows what is loaded until when", () =>
    Effect.gen(function*() {
      const ollama = yield* OllamaEmulator.make({ ...fast, loadTime: "20ms" })
      expect(JSON.parse((yield* call(`${ollama.url}/api/ps`)).text)).toEqual({ models: [] })
      const load = JSON.parse((yield* call(`${ollama.url}/api/generate`, { body: { model: "llama3.2:3b" } })).text)
      expect(load).toMatchObject({ model: "llama3.2:3b", done: true, done_reason: "load", response: "" })
      const ps = JSON.parse((yield* call(`${ollama.url}/api/ps`)).text)
      expect(ps.models).toHaveLength(1)
      expect(ps.models[0]).toMatchObject({ name: "llama3.2:3b", model: "llama3.2:3b", size_vram: 2019393189 })
      const expiresIn = Date.parse(ps.models[0].expires_at) - Date.now()
      expect(expiresIn).toBeGreaterThan(290_000)
      expect(expiresIn).toBeLessThanOrEqual(300_000)
      // loaded: no load time on the next request
      const warm = JSON.parse(
        (yield* call(`${ollama.url}/api/generate`, {
          body: { model: "llama3.2:3b", prompt: "hi", stream: false }
        })).text
      )
      expect(warm).not.toHaveProperty("load_duration")
      const unload = JSON.parse(
        (yield* call(`${ollama.url}/api/chat`, {
          body: { model: "llama3.2:3b", messages: [], keep_alive: 0 }
        })).text
      )
      expect(unload).toMatchObject({ done: true, done_reason: "unload", message: { role: "assistant", content: "" } })
      expect(JSON.parse((yield* call(`${ollama.url}/api/ps`)).text)).toEqual({ models: [] })
      const cold = JSON.parse(
        (yield* call(`${ollama.url}/api/generate`, {
          body: { model: "llama3.2:3b", prompt: "hi", stream: false, keep_alive: "-1" }
        })).text
      )
      expect(cold.load_duration).toBeGreaterThanOrEqual(15_000_000)
      const forever = JSON.parse((yield* call(`${ollama.url}/api/ps`)).text)
      expect(Date.parse(forever.models[0].expires_at)).toBeGreaterThan(Date.UTC(2300, 0, 1))
    }).pipe(Effect.scoped))

  it.live("/api/tags, /api/version and the OpenAI-compatible chat", () =>
    Effect.gen(function*() {
      const ollama = yield* OllamaEmulator.make({ ...fast, models: ["mistral", { name: "phi3:mini", size: 123 }] })
      const tags = JSON.parse((yield* call(`${ollama.url}/api/tags`)).text)
      expect(tags.models.map((model: { name: string }) => model.name)).toEqual(["mistral:latest", "phi3:mini"])
      expect(tags.models[1]).toMatchObject({ model: "phi3:mini", size: 123, details: { format: "gguf" } })
      expect(tags.models[0].digest).toMatch(/^[0-9a-f]{64}$/)
      expect(JSON.parse((yield* call(`${ollama.url}/api/version`)).text)).toEqual({ version: "0.12.6" })
      expect((yield* call(`${ollama.url}/api/tags`, { method: "HEAD" })).status).toBe(200)
      const openai = JSON.parse(
        (yield* call(`${ollama.url}/v1/chat/completions`, {
          body: { model: "mistral", messages: [{ role: "user", content: "hi" }] }
        })).text
      )
      expect(openai).toMatchObject({
        object: "chat.completion",
        model: "mistral",
        system_fingerprint: "fp_ollama",
        choices: [{ index: 0, message: { role: "assistant" }, finish_reason: "stop" }]
      })
      expect(openai.id).toMatch(/^chatcmpl-\d{1,3}$/)
      expect(openai.usage.total_tokens).toBe(openai.usage.prompt_tokens + openai.usage.completion_tokens)
    }).pipe(Effect.scoped))

  it.live("errors in Ollama's words", () =>
    Effect.gen(function*() {
      const ollama = yield* OllamaEmulator.make(fast)
      const error = (answer: Answer) => ({ status: answer.status, body: JSON.parse(answer.text) })
      expect(error(yield* call(`${ollama.url}/api/generate`, { body: { model: "nope:1b", prompt: "hi" } }))).toEqual({
        status: 404,
        body: { error: "model 'nope:1b' not found" }
      })
      expect(error(yield* call(`${ollama.url}/api/chat`, { body: { model: "nope", messages: [] } }))).toEqual({
        status: 404,
        body: { error: "model 'nope' not found" }
      })
      expect(error(yield* call(`${ollama.url}/api/chat`, { body: { messages: [] } }))).toEqual({
        status: 400,
        body: { error: "model is required" }
      })
      expect(error(yield* call(`${ollama.url}/api/generate`, { body: "" }))).toEqual({
        status: 400,
        body: { error: "missing request body" }
      })
      expect(error(yield* call(`${ollama.url}/api/generate`, { body: "{oops" }))).toMatchObject({ status: 400 })
      expect(error(yield* call(`${ollama.url}/api/generate`, { body: { model: 7 } }))).toEqual({
        status: 400,
        body: { error: "json: cannot unmarshal number into Go struct field GenerateRequest.model" }
      })
      expect(error(yield* call(`${ollama.url}/api/generate`, { body: { model: "llama3.2:3b", keep_alive: "soon" } })))
        .toEqual({ status: 400, body: { error: "time: invalid duration \"soon\"" } })
      expect(
        error(yield* call(`${ollama.url}/api/generate`, { body: { model: "llama3.2:3b", raw: true, system: "x" } }))
      )
        .toEqual({ status: 400, body: { error: "raw mode does not support template, system, or context" } })
      expect(yield* call(`${ollama.url}/api/nothing`)).toEqual({
        status: 404,
        type: "text/plain",
        text: "404 page not found"
      })
      const openai = yield* call(`${ollama.url}/v1/chat/completions`, { body: { model: "nope", messages: [] } })
      expect(error(openai)).toEqual({
        status: 404,
        body: { error: { message: "model 'nope' not found", type: "not_found_error", param: null, code: null } }
      })
    }).pipe(Effect.scoped))

  it.live("midStreamError: a 200 stream that ends with an error line instead of done, as the seed draws it", () =>
    Effect.gen(function*() {
      const always = yield* OllamaEmulator.make({ ...fast, midStreamError: 1 })
      const body = { model: "llama3.2:3b", prompt: "Why?" }
      const broken = yield* call(`${always.url}/api/generate`, { body })
      expect(broken.status).toBe(200)
      const chunks = lines(broken.text)
      expect(chunks.at(-1)).toEqual({ error: OllamaEmulator.runnerStoppedMessage })
      expect(chunks.length).toBeGreaterThan(1)
      expect(chunks.slice(0, -1).every((chunk) => chunk.done === false)).toBe(true)
      const whole = lines((yield* call(`${always.url}/api/generate`, { body: { ...body, seed: 1 } })).text)
      expect(chunks.length - 1).toBeLessThan(whole.length)
      // a non-streamed answer is unaffected
      const single = yield* call(`${always.url}/api/generate`, { body: { ...body, stream: false } })
      expect(JSON.parse(single.text)).toMatchObject({ done: true })
      expect(yield* always.queue).toEqual({ running: 0, waiting: 0 })
      // a probability: some streams break, some end with done, the same ones for the same seed
      const outcomes = (emulator: OllamaEmulator.Service) =>
        Effect.forEach(Array.from({ length: 20 }, (_, n) => n), (n) =>
          Effect.map(
            call(`${emulator.url}/api/generate`, { body: { model: "llama3.2:3b", prompt: `q${n}` } }),
            (answer) => "error" in lines(answer.text).at(-1)!
          ))
      const half = yield* outcomes(yield* OllamaEmulator.make({ ...fast, midStreamError: 0.5, seed: 3 }))
      expect(half).toContain(true)
      expect(half).toContain(false)
      expect(yield* outcomes(yield* OllamaEmulator.make({ ...fast, midStreamError: 0.5, seed: 3 }))).toEqual(half)
    }).pipe(Effect.scoped))

  it.live("an injected status is answered in Ollama's format, without Retry-After", () =>
    Effect.gen(function*() {
      const ollama = yield* OllamaEmulator.make({ faults: "status=503@0s-1m" })
      const response = yield* Effect.promise(() => fetch(`${ollama.url}/api/tags`))
      expect(response.status).toBe(503)
      expect(response.headers.get("retry-after")).toBeNull()
      expect(yield* Effect.promise(() => response.json())).toEqual({ error: OllamaEmulator.busyMessage })
    }).pipe(Effect.scoped))
})

describe("OllamaEmulator queue", () => {
  const slow = { tokenLatency: "40ms", models: [{ name: "llama3.2:3b" }] }
  const generate = (url: string, signal?: AbortSignal) =>
    call(`${url}/api/generate`, {
      body: { model: "llama3.2:3b", prompt: "hi", stream: false, options: { num_predict: 5 } },
      ...(signal === undefined ? {} : { signal })
    })
  /** Polls the queue on the live clock (the emulator's may be a TestClock) until `ok` holds. */
  const until = (ollama: OllamaEmulator.Service, ok: (queue: { running: number; waiting: number }) => boolean) =>
    pollUntil(ollama.queue, ok)

  // The tests on the TestClock: a request keeps its slot, however slow the machine, until the test moves the
  // clock past its tokens.
  it.scoped("one slot, one waiter: the third request gets the 503 with the exact text at once", () =>
    Effect.gen(function*() {
      const ollama = yield* OllamaEmulator.make({ ...slow, numParallel: 1, maxQueue: 1 })
      expect(OllamaEmulator.busyMessage).toBe("server busy, please try again.  maximum pending requests exceeded")
      const first = yield* Effect.fork(generate(ollama.url))
      yield* until(ollama, (queue) => queue.running === 1)
      const second = yield* Effect.fork(generate(ollama.url))
      yield* until(ollama, (queue) => queue.waiting === 1)
      // "at once": answered while the running request still has tokens to go, not after a wait in line
      const third = yield* generate(ollama.url)
      expect(third.status).toBe(503)
      expect(yield* ollama.queue).toEqual({ running: 1, waiting: 1 })
      expect(JSON.parse(third.text)).toEqual({ error: OllamaEmulator.busyMessage })
      yield* tick(40, 2 * 5) // the first one's five tokens, then the second one's
      expect((yield* Fiber.join(first)).status).toBe(200)
      expect((yield* Fiber.join(second)).status).toBe(200)
      const stats = yield* ollama.stats
      expect(stats).toMatchObject({ capacity: 1, responses: { 200: 2, 503: 1 } })
      expect(stats.busyMillis).toBe(2 * 5 * 40)
    }))

  it.scoped("a waiting client that disconnects frees its queue place; a streaming client that does frees its slot", () =>
    Effect.gen(function*() {
      const ollama = yield* OllamaEmulator.make({ ...slow, numParallel: 1, maxQueue: 1 })
      const streaming = open(`${ollama.url}/api/generate`, { model: "llama3.2:3b", prompt: "hi" })
      yield* tick(40) // its first token; the next ones wait for a clock that does not move
      const firstLine = yield* Effect.promise(() => streaming.firstChunk)
      expect(JSON.parse(firstLine)).toMatchObject({ done: false })
      const waiter = open(`${ollama.url}/api/generate`, { model: "llama3.2:3b", prompt: "hi", stream: false })
      yield* until(ollama, (queue) => queue.running === 1 && queue.waiting === 1)
      waiter.destroy()
      yield* until(ollama, (queue) => queue.waiting === 0)
      expect(yield* ollama.queue).toEqual({ running: 1, waiting: 0 })
      streaming.destroy()
      // the generation stops without its next token: the slot frees without the clock moving on
      yield* until(ollama, (queue) => queue.running === 0)
      // past the stopped stream's next token, whose wait would otherwise count as the next request's
      yield* TestClock.adjust("40 millis")
      const next = yield* Effect.fork(generate(ollama.url))
      yield* tick(40, 5)
      expect((yield* Fiber.join(next)).status).toBe(200)
    }))

  it.live("requests interrupted at any point never leave their slot held", () =>
    Effect.gen(function*() {
      const config = Either.getOrThrow(OllamaOptions.settings(
        { numParallel: 1, tokenLatency: "0ms..1ms", loadTime: "0ms..1ms", keepAlive: "0s" },
        OllamaEmulator.defaults
      ))
      const stats = yield* EmulatorStats.make({ service: "ollama" })
      const scheduler = yield* OllamaScheduler.make({ numParallel: 1, maxQueue: 512 })
      const generation = yield* OllamaGeneration.make(config, stats, scheduler, OllamaModels.residency())
      const model = [...config.models.values()][0]!
      const job = (n: number): OllamaGeneration.Job => ({
        model,
        keepAlive: 0,
        reply: OllamaText.reply(1, { n }, 3),
        promptTokens: 1,
        uniform: Seeded.forRequest(2, { n })
      })
      const wrap = (text: string) => ({ text })
      for (let n = 0; n < 300; n++) {
        const request = n % 3 === 0
          ? generation.loadOnly(job(n), wrap)
          : generation.answer(job(n), false, wrap)
        const fiber = yield* Effect.fork(request)
        for (let step = 0; step < n % 40; step++) yield* Effect.yieldNow()
        yield* Fiber.interrupt(fiber)
      }
      expect(yield* scheduler.state).toEqual({ running: 0, waiting: [] })
      const served = yield* generation.answer(job(-1), false, wrap).pipe(Effect.timeout("1 second"))
      expect(served.status).toBe(200)
      expect(yield* scheduler.state).toEqual({ running: 0, waiting: [] })
      // no busy time keeps running for a slot nobody holds
      const before = (yield* stats.snapshot).busyMillis
      yield* Effect.sleep("5 millis")
      expect((yield* stats.snapshot).busyMillis).toBe(before)
    }).pipe(Effect.scoped))

  it.live("clients that abort at random points leave the slot free for the next request", () =>
    Effect.gen(function*() {
      const ollama = yield* OllamaEmulator.make({ ...slow, tokenLatency: "0ms..2ms", numParallel: 1 })
      yield* Effect.all(
        Array.from({ length: 40 }, (_, n) =>
          call(`${ollama.url}/api/generate`, {
            body: { model: "llama3.2:3b", prompt: `hi ${n}`, stream: n % 2 === 0, options: { num_predict: 3 } },
            signal: AbortSignal.timeout(n % 8)
          })),
        { concurrency: "unbounded" }
      )
      const next = yield* generate(ollama.url)
      expect(next.status).toBe(200)
      yield* until(ollama, (queue) => queue.running === 0 && queue.waiting === 0).pipe(Effect.timeout("5 seconds"))
    }).pipe(Effect.scoped))

  it.scoped("numParallel requests run at once", () =>
    Effect.gen(function*() {
      const ollama = yield* OllamaEmulator.make({ ...slow, numParallel: 3 })
      const answers = yield* Effect.fork(
        Effect.all(Array.from({ length: 3 }, () => generate(ollama.url)), { concurrency: 3 })
      )
      yield* until(ollama, (queue) => queue.running === 3 && queue.waiting === 0)
      yield* tick(40, 5, 3) // five tokens, three requests at a time
      expect((yield* Fiber.join(answers)).map((answer) => answer.status)).toEqual([200, 200, 200])
      const stats = yield* ollama.stats
      expect(stats.maxConcurrency).toBe(3)
      // three replies' work in the time of one
      expect(stats).toMatchObject({ busyMillis: 3 * 5 * 40, windowMillis: 5 * 40 })
    }))
})

describe("OllamaEmulator options", () => {
  const rejects = (options: OllamaEmulator.Options, option: string) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(OllamaEmulator.make(options))
      expect(error).toBeInstanceOf(Emulator.InvalidEmulatorOption)
      expect(error).toMatchObject({ service: "ollama", option })
    }).pipe(Effect.scoped)

  it.effect("every bad option is a typed error naming it", () =>
    Effect.gen(function*() {
      yield* rejects({ numParallel: 0 }, "numParallel")
      yield* rejects({ numParallel: 1.5 }, "numParallel")
      yield* rejects({ maxQueue: -1 }, "maxQueue")
      yield* rejects({ tokenLatency: "fast" }, "tokenLatency")
      yield* rejects({ loadTime: "-1s" }, "loadTime")
      yield* rejects({ keepAlive: "soon" }, "keepAlive")
      yield* rejects({ models: [] }, "models")
      yield* rejects({ models: ["a b"] }, "models")
      yield* rejects({ models: ["llama3.2", "llama3.2:latest"] }, "models")
      yield* rejects({ models: [{ name: "x", size: -5 }] }, "models")
      yield* rejects({ version: "" }, "version")
      yield* rejects({ midStreamError: 1.5 }, "midStreamError")
      yield* rejects({ midStreamError: -0.1 }, "midStreamError")
      expect((yield* Effect.flip(OllamaEmulator.make({ faults: "status=oops" }).pipe(Effect.scoped)))._tag)
        .toBe("InvalidFaultSpec")
    }))

  it("keep_alive reads numbers as seconds and strings as Go durations", () => {
    expect(OllamaModels.keepAliveMillis(30)).toBe(30_000)
    expect(OllamaModels.keepAliveMillis("1h30m")).toBe(5_400_000)
    expect(OllamaModels.keepAliveMillis("0")).toBe(0)
    expect(OllamaModels.keepAliveMillis(-1)).toBe(Infinity)
    expect(OllamaModels.keepAliveMillis("-1m")).toBe(Infinity)
    expect(OllamaModels.normalize("Llama3.2")).toBe("llama3.2:latest")
    expect(OllamaModels.normalize("host:5000/ns/model")).toBe("host:5000/ns/model:latest")
  })
})

describe("OllamaScheduler", () => {
  const limits = { numParallel: 2, maxQueue: 2 }

  it("runs, then queues, then rejects; a freed slot goes to the oldest waiter; a cancelled waiter leaves", () => {
    let state = OllamaScheduler.empty
    const admissions: Array<string> = []
    for (let id = 0; id < 5; id++) {
      const step = OllamaScheduler.admit(state, limits, id)
      state = step.state
      admissions.push(step.admission)
    }
    expect(admissions).toEqual(["run", "run", "wait", "wait", "reject"])
    expect(state).toEqual({ running: 2, waiting: [2, 3] })
    const freed = OllamaScheduler.release(state)
    expect(freed.next).toBe(2)
    expect(freed.state).toEqual({ running: 2, waiting: [3] })
    expect(OllamaScheduler.cancel(freed.state, 3)).toEqual({ running: 2, waiting: [] })
    expect(OllamaScheduler.admit(OllamaScheduler.cancel(freed.state, 3), limits, 9).admission).toBe("wait")
  })

  type Op = { readonly _tag: "arrive" } | { readonly _tag: "finish" } | {
    readonly _tag: "leave"
    readonly pick: number
  }
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.constant({ _tag: "arrive" as const }),
    fc.constant({ _tag: "finish" as const }),
    fc.nat(20).map((pick) => ({ _tag: "leave" as const, pick }))
  )

  it.prop(
    "never more than numParallel running nor maxQueue waiting; every accepted request runs or leaves",
    [fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 4 }), fc.array(op, { maxLength: 60 })],
    ([numParallel, maxQueue, ops]) => {
      const limits = { numParallel, maxQueue }
      let state = OllamaScheduler.empty
      const ran = new Set<number>()
      const left = new Set<number>()
      const accepted = new Set<number>()
      const running: Array<number> = []
      let id = 0
      const step = (o: Op) => {
        if (o._tag === "arrive") {
          const next = OllamaScheduler.admit(state, limits, id)
          state = next.state
          if (next.admission !== "reject") accepted.add(id)
          if (next.admission === "run") {
            ran.add(id)
            running.push(id)
          }
          id++
        } else if (o._tag === "finish") {
          if (running.length === 0) return
          running.shift()
          const next = OllamaScheduler.release(state)
          state = next.state
          if (next.next !== undefined) {
            ran.add(next.next)
            running.push(next.next)
          }
        } else if (state.waiting.length > 0) {
          const gone = state.waiting[o.pick % state.waiting.length]!
          state = OllamaScheduler.cancel(state, gone)
          left.add(gone)
        }
        expect(state.running).toBeLessThanOrEqual(numParallel)
        expect(state.running).toBe(running.length)
        expect(state.waiting.length).toBeLessThanOrEqual(maxQueue)
        // a request waits only while every slot is taken
        if (state.waiting.length > 0) expect(state.running).toBe(numParallel)
      }
      ops.forEach(step)
      // drain: every accepted request ran or left
      while (running.length > 0) step({ _tag: "finish" })
      expect([...accepted].every((request) => ran.has(request) || left.has(request))).toBe(true)
    }
  )

  it.effect("the effectful scheduler: FIFO hand-over, immediate rejection, interrupted waiters leave (TestClock)", () =>
    Effect.gen(function*() {
      const scheduler = yield* OllamaScheduler.make({ numParallel: 1, maxQueue: 2 })
      const order: Array<string> = []
      const job = (name: string) =>
        scheduler.withSlot(Effect.sleep("10 seconds").pipe(Effect.tap(() => order.push(name))))
      const a = yield* Effect.fork(job("a"))
      const b = yield* Effect.fork(job("b"))
      const c = yield* Effect.fork(job("c"))
      yield* Effect.yieldNow()
      expect(yield* scheduler.state).toMatchObject({ running: 1, waiting: [1, 2] })
      expect(yield* Effect.flip(job("d"))).toBeInstanceOf(OllamaScheduler.QueueFull)
      yield* Fiber.interrupt(b)
      expect((yield* scheduler.state).waiting).toEqual([2])
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(a)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(c)
      expect(order).toEqual(["a", "c"])
      expect(yield* scheduler.state).toEqual({ running: 0, waiting: [] })
    }))
})
