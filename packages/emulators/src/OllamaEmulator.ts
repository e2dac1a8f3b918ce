/**
 * A loopback Ollama server: `/api/generate` and `/api/chat` (NDJSON streams
 * by default, single objects with `"stream": false`), `/api/tags`, `/api/ps`,
 * `/api/version` and a non-streaming `/v1/chat/completions`, with Ollama's
 * scheduler in front of the work: `numParallel` slots, a queue of `maxQueue`
 * waiters and the 503 "server busy" answer beyond it.
 *
 * Replies are synthetic words drawn from the seed and the request; their
 * timing (model load on first use, per-token latency) from seeded
 * distributions, waited with `Effect.sleep` so the answers can be made slower
 * than a client's timeout.
 *
 * @since 0.1.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Emulator from "./Emulator.js"
import * as EmulatorStats from "./EmulatorStats.js"
import * as Faults from "./Faults.js"
import * as OllamaModels from "./internal/ollamaModels.js"
import * as OllamaScheduler from "./internal/ollamaScheduler.js"
import * as OllamaText from "./internal/ollamaText.js"
import * as OllamaWire from "./internal/ollamaWire.js"
import * as Seeded from "./internal/seeded.js"

/**
 * @since 0.1.0
 * @category Tags
 */
export class OllamaEmulator extends Context.Tag("@bulwark/emulators/OllamaEmulator")<OllamaEmulator, Service>() {}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service extends Emulator.Emulator {
  /** The scheduler now: requests holding a slot and requests waiting in the queue. */
  readonly queue: Effect.Effect<{ readonly running: number; readonly waiting: number }>
}

/**
 * A model the emulator serves: a name, or a name with its size and details.
 *
 * @since 0.1.0
 * @category Options
 */
export type ModelOption = string | OllamaModels.ModelSpec

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options extends Emulator.CommonOptions {
  /** The local models (`/api/tags`). Default `llama3.2:3b` and `qwen2.5-coder:7b`. */
  readonly models?: ReadonlyArray<ModelOption> | undefined
  /** Requests served at once (OLLAMA_NUM_PARALLEL). Default 1. */
  readonly numParallel?: number | undefined
  /** Requests that may wait for a slot before the 503 (OLLAMA_MAX_QUEUE). Default 512. */
  readonly maxQueue?: number | undefined
  /** Time per generated token, a `Faults` distribution (`"20ms"`, `"10ms..30ms"`, `"exp(15ms)"`). Default `"1ms"`. */
  readonly tokenLatency?: string | undefined
  /** Time to load a model that is not in memory (first use, or after its keep-alive). Default `"0ms"`. */
  readonly loadTime?: string | undefined
  /** Keep-alive when a request gives none (OLLAMA_KEEP_ALIVE): `"5m"`, `"-1"` (forever), `"0"`. Default `"5m"`. */
  readonly keepAlive?: string | undefined
  /** What `/api/version` says. Default `"0.12.6"`. */
  readonly version?: string | undefined
}

/**
 * The 503 text of a full queue, to the letter (two spaces after the first period).
 *
 * @since 0.1.0
 * @category Constants
 */
export const busyMessage: string = OllamaWire.busyMessage

/**
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  numParallel: 1,
  maxQueue: 512,
  tokenLatency: "1ms",
  loadTime: "0ms",
  keepAlive: "5m",
  version: "0.12.6"
} as const

const service = "ollama"

const invalid = (option: string, reason: string) => new Emulator.InvalidEmulatorOption({ service, option, reason })

const checkOptions = (options: Options) =>
  Effect.gen(function*() {
    const integer = (option: string, value: number | undefined, fallback: number, min: number) =>
      value === undefined
        ? Either.right(fallback)
        : Number.isSafeInteger(value) && value >= min
        ? Either.right(value)
        : Either.left(invalid(option, `must be an integer ≥ ${min}, got ${value}`))
    const distribution = (option: string, value: string | undefined, fallback: string) =>
      Either.mapLeft(Faults.parseDistribution(value ?? fallback), (reason) => invalid(option, reason))
    const numParallel = yield* integer("numParallel", options.numParallel, defaults.numParallel, 1)
    const maxQueue = yield* integer("maxQueue", options.maxQueue, defaults.maxQueue, 0)
    const tokenLatency = yield* distribution("tokenLatency", options.tokenLatency, defaults.tokenLatency)
    const loadTime = yield* distribution("loadTime", options.loadTime, defaults.loadTime)
    const keepAlive = OllamaModels.keepAliveMillis(options.keepAlive ?? defaults.keepAlive)
    if (typeof keepAlive === "string") return yield* invalid("keepAlive", keepAlive)
    const version = options.version ?? defaults.version
    if (typeof version !== "string" || version === "") return yield* invalid("version", "must be a non-empty string")
    const specs = options.models ?? OllamaModels.defaultModels
    if (!Array.isArray(specs) || specs.length === 0) return yield* invalid("models", "must name at least one model")
    const models = new Map<string, OllamaModels.Model>()
    for (const spec of specs) {
      const model = OllamaModels.fromSpec(spec)
      if (typeof model === "string") return yield* invalid("models", model)
      if (models.has(model.name)) return yield* invalid("models", `${model.name} is listed twice`)
      models.set(model.name, model)
    }
    return { numParallel, maxQueue, tokenLatency, loadTime, keepAlive, version, models }
  })

/** One generation, whatever the route: what to say and how to wrap each piece. */
interface Job {
  readonly model: OllamaModels.Model
  readonly keepAlive: number
  readonly reply: OllamaText.Reply
  readonly promptTokens: number
  /** Draws of the service times of this request. */
  readonly uniform: () => number
}

interface Timings {
  readonly totalNanos: bigint
  readonly loadNanos: bigint
  readonly evalNanos: bigint
}

/** Ollama's metrics of a finished generation, zero ones left out (`omitempty`). */
const metrics = (job: Job, timings: Timings) => {
  const promptEval = BigInt(job.promptTokens) * 20_000n
  const evalNanos = timings.evalNanos > 0n ? timings.evalNanos : BigInt(job.reply.tokens.length)
  const all: Record<string, number> = {
    total_duration: Number(timings.totalNanos + promptEval),
    load_duration: Number(timings.loadNanos),
    prompt_eval_count: job.promptTokens,
    prompt_eval_duration: Number(promptEval),
    eval_count: job.reply.tokens.length,
    eval_duration: job.reply.tokens.length === 0 ? 0 : Number(evalNanos)
  }
  return Object.fromEntries(Object.entries(all).filter(([, value]) => value > 0))
}

const encoder = new TextEncoder()
const ndjson = (line: unknown) => encoder.encode(`${JSON.stringify(line)}\n`)

/**
 * Starts an Ollama emulator on 127.0.0.1 for the life of the scope.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  Service,
  Faults.InvalidFaultSpec | Emulator.InvalidEmulatorOption | HttpServerError.ServeError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const config = yield* checkOptions(options)
    const seed = options.seed ?? 0
    const stats = yield* EmulatorStats.make({ service, capacity: config.numParallel })
    const scheduler = yield* OllamaScheduler.make({ numParallel: config.numParallel, maxQueue: config.maxQueue })
    const residency = OllamaModels.residency()
    const startedAt = yield* Clock.currentTimeNanos
    const emulatorScope = yield* Effect.scope

    const lookup = (name: string | undefined) => {
      const model = name === undefined || name.trim() === ""
        ? undefined
        : config.models.get(OllamaModels.normalize(name))
      return model === undefined
        ? Effect.fail(new OllamaWire.OllamaFailure({ status: 404, error: `model '${name ?? ""}' not found` }))
        : Effect.succeed(model)
    }
    const keepAliveOf = (value: number | string | undefined) => {
      if (value === undefined) return Effect.succeed(config.keepAlive)
      const millis = OllamaModels.keepAliveMillis(value)
      return typeof millis === "string"
        ? Effect.fail(new OllamaWire.OllamaFailure({ status: 400, error: millis }))
        : Effect.succeed(millis)
    }
    const createdAt = Effect.map(Clock.currentTimeNanos, OllamaText.timestamp)

    /**
     * Takes a slot (waiting in the queue, or failing with the 503), loads the
     * model if it is not in memory, and returns the scope that holds the slot:
     * closing it frees the slot and starts the model's keep-alive.
     */
    const begin = (job: Job) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const free = yield* scheduler.acquire.pipe(
            Effect.catchTag("QueueFull", () =>
              Effect.zipRight(
                Effect.logDebug("queue full").pipe(Effect.annotateLogs({ service, model: job.model.name })),
                new OllamaWire.OllamaFailure({ status: 503, error: OllamaWire.busyMessage })
              ))
          )
          const scope = yield* Scope.make()
          yield* Scope.addFinalizer(scope, free)
          // forked from an uninterruptible region: the fiber must be made interruptible for the scope to stop it
          yield* Effect.forkIn(Effect.interruptible(stats.busy(Effect.never)), scope)
          const wasLoaded = residency.isLoaded(job.model.name, Number((yield* Clock.currentTimeNanos) / 1_000_000n))
          residency.begin(job.model.name)
          yield* Scope.addFinalizer(
            scope,
            Effect.flatMap(
              Clock.currentTimeMillis,
              (now) => Effect.sync(() => residency.end(job.model.name, now, job.keepAlive))
            )
          )
          const loadMillis = wasLoaded ? 0 : Faults.sample(config.loadTime, job.uniform)
          if (loadMillis === 0) return { scope, loadNanos: 0n }
          const loading = Effect.sleep(Duration.millis(loadMillis)).pipe(
            Effect.zipRight(Clock.currentTimeNanos),
            Effect.withSpan("OllamaEmulator.load", { attributes: { model: job.model.name, millis: loadMillis } })
          )
          const from = yield* Clock.currentTimeNanos
          const to = yield* restore(loading).pipe(
            Effect.onExit((exit) => Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void)
          )
          return { scope, loadNanos: to - from }
        })
      )

    /** The tokens, each after its latency, then the end: `(token, done)` pairs for the route to wrap. */
    const tokens = (job: Job, started: bigint, loaded: bigint, loadNanos: bigint) =>
      Stream.fromIterable(job.reply.tokens).pipe(
        Stream.mapEffect((token) =>
          Effect.as(Effect.sleep(Duration.millis(Faults.sample(config.tokenLatency, job.uniform))), token)
        )
      ).pipe(
        Stream.map((token): { token: string; timings: Timings | undefined } => ({ token, timings: undefined })),
        Stream.concat(Stream.fromEffect(Effect.map(Clock.currentTimeNanos, (end) => ({
          token: "",
          timings: { totalNanos: end - started, loadNanos, evalNanos: end - loaded }
        }))))
      )

    /**
     * Runs a job and answers it: one object, or an NDJSON stream whose slot is
     * held until the last line is written or the client goes away.
     */
    const answer = (
      job: Job,
      stream: boolean,
      wrap: (
        text: string,
        done: Timings | undefined,
        createdAt: string
      ) => Record<string, unknown>
    ) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeNanos
        const { loadNanos, scope } = yield* begin(job)
        const loaded = yield* Clock.currentTimeNanos
        const pieces = tokens(job, started, loaded, loadNanos)
        if (!stream) {
          const all = yield* Stream.runCollect(pieces).pipe(Effect.ensuring(Scope.close(scope, Exit.void)))
          const list = [...all]
          const last = list[list.length - 1]!
          return OllamaWire.json(wrap(list.map((piece) => piece.token).join(""), last.timings, yield* createdAt))
        }
        // A stream nobody reads (the client hung up before the answer was written) must not hold its slot.
        let reading = false
        yield* Effect.sleep("2 seconds").pipe(
          Effect.zipRight(Effect.suspend(() => reading ? Effect.void : Scope.close(scope, Exit.void))),
          Effect.forkIn(emulatorScope)
        )
        const body = Stream.fromEffect(Effect.sync(() => (reading = true))).pipe(
          Stream.drain,
          Stream.concat(pieces),
          Stream.mapEffect((piece) => Effect.map(createdAt, (at) => ndjson(wrap(piece.token, piece.timings, at)))),
          Stream.ensuring(Scope.close(scope, Exit.void))
        )
        return HttpServerResponse.stream(body, { contentType: "application/x-ndjson" })
      })

    /** An empty prompt only loads (or, with keep_alive 0, unloads) the model: one object, stream or not. */
    const loadOnly = (job: Job, wrap: (reason: string, createdAt: string) => Record<string, unknown>) =>
      Effect.gen(function*() {
        const { scope } = yield* begin(job)
        yield* Scope.close(scope, Exit.void)
        return OllamaWire.json(wrap(job.keepAlive === 0 ? "unload" : "load", yield* createdAt))
      })

    const jobOf = (
      model: OllamaModels.Model,
      keepAlive: number,
      request: unknown,
      prompt: string,
      numPredict?: number
    ) => ({
      model,
      keepAlive,
      reply: OllamaText.reply(seed, request, numPredict),
      promptTokens: OllamaText.promptTokens(prompt),
      uniform: Seeded.forRequest(seed + 1, request)
    })

    const generate = Effect.gen(function*() {
      const body = yield* OllamaWire.decodeBody(OllamaWire.GenerateRequest, "GenerateRequest")
      const model = yield* lookup(body.model)
      if (
        body.raw === true && (body.template !== undefined || body.system !== undefined || body.context !== undefined)
      ) {
        return yield* new OllamaWire.OllamaFailure({
          status: 400,
          error: "raw mode does not support template, system, or context"
        })
      }
      const keepAlive = yield* keepAliveOf(body.keep_alive)
      const requested = body.model!
      const prompt = `${body.system ?? ""}${body.prompt ?? ""}${body.suffix ?? ""}`
      const job = jobOf(
        model,
        keepAlive,
        {
          model: model.name,
          prompt: body.prompt,
          system: body.system,
          suffix: body.suffix,
          seed: body.options?.seed
        },
        prompt,
        body.options?.num_predict
      )
      yield* Effect.annotateCurrentSpan({ model: model.name, stream: body.stream ?? true })
      if ((body.prompt ?? "") === "" && body.system === undefined && body.template === undefined) {
        return yield* loadOnly(job, (reason, at) => ({
          model: requested,
          created_at: at,
          response: "",
          done: true,
          done_reason: reason
        }))
      }
      const context = job.reply.tokens.map((token) => Seeded.hash(token) % 128_000)
      return yield* answer(job, body.stream ?? true, (text, done, at) =>
        done === undefined
          ? { model: requested, created_at: at, response: text, done: false }
          : {
            model: requested,
            created_at: at,
            response: text,
            done: true,
            done_reason: job.reply.doneReason,
            context,
            ...metrics(job, done)
          })
    })

    const chat = Effect.gen(function*() {
      const body = yield* OllamaWire.decodeBody(OllamaWire.ChatRequest, "ChatRequest")
      if ((body.model ?? "") === "") {
        return yield* new OllamaWire.OllamaFailure({ status: 400, error: "model is required" })
      }
      const model = yield* lookup(body.model)
      const keepAlive = yield* keepAliveOf(body.keep_alive)
      const requested = body.model!
      const messages = body.messages ?? []
      const job = jobOf(
        model,
        keepAlive,
        { model: model.name, messages, seed: body.options?.seed },
        messages.map((message) => `${message.role}: ${message.content ?? ""}`).join("\n"),
        body.options?.num_predict
      )
      yield* Effect.annotateCurrentSpan({ model: model.name, stream: body.stream ?? true })
      if (messages.length === 0) {
        return yield* loadOnly(job, (reason, at) => ({
          model: requested,
          created_at: at,
          message: { role: "assistant", content: "" },
          done: true,
          done_reason: reason
        }))
      }
      return yield* answer(job, body.stream ?? true, (text, done, at) =>
        done === undefined
          ? { model: requested, created_at: at, message: { role: "assistant", content: text }, done: false }
          : {
            model: requested,
            created_at: at,
            message: { role: "assistant", content: text },
            done: true,
            done_reason: job.reply.doneReason,
            ...metrics(job, done)
          })
    })

    const openAiChat = Effect.gen(function*() {
      const body = yield* OllamaWire.decodeBody(OllamaWire.OpenAiChatRequest, "ChatCompletionRequest")
      if (body.stream === true) {
        return yield* new OllamaWire.OllamaFailure({ status: 400, error: "the emulator does not stream /v1 answers" })
      }
      const model = yield* lookup(body.model)
      const text = (content: unknown) => typeof content === "string" ? content : JSON.stringify(content ?? "")
      const job = jobOf(
        model,
        config.keepAlive,
        { model: model.name, messages: body.messages, seed: body.seed },
        body.messages.map((message) => `${message.role}: ${text(message.content)}`).join("\n"),
        body.max_tokens
      )
      const response = yield* answer(job, false, (content) => ({ content }))
      const created = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const tokens = job.reply.tokens.length
      return OllamaWire.json({
        id: `chatcmpl-${Math.floor(job.uniform() * 999)}`,
        object: "chat.completion",
        created,
        model: body.model,
        system_fingerprint: "fp_ollama",
        choices: [{
          index: 0,
          message: { role: "assistant", content: job.reply.tokens.join("") },
          finish_reason: job.reply.doneReason
        }],
        usage: { prompt_tokens: job.promptTokens, completion_tokens: tokens, total_tokens: job.promptTokens + tokens }
      }, response.status)
    })

    const native = <R>(
      route: string,
      handler: Effect.Effect<HttpServerResponse.HttpServerResponse, OllamaWire.OllamaFailure, R>
    ) =>
      handler.pipe(
        Effect.catchTag(
          "OllamaFailure",
          (failure) => Effect.succeed(OllamaWire.nativeError(failure.status, failure.error))
        ),
        Effect.withSpan(`OllamaEmulator.${route}`)
      )

    const tags = Effect.sync(() =>
      OllamaWire.json({
        models: [...config.models.values()].map((model) => ({
          name: model.name,
          model: model.name,
          modified_at: OllamaText.timestamp(startedAt),
          size: model.size,
          digest: model.digest,
          details: model.details
        }))
      })
    )

    const ps = Effect.map(Clock.currentTimeMillis, (now) =>
      OllamaWire.json({
        models: residency.loaded(now).map(({ expiresAt, name }) => {
          const model = config.models.get(name)!
          return {
            name,
            model: name,
            size: model.size,
            digest: model.digest,
            details: model.details,
            expires_at: OllamaText.timestamp(BigInt(expiresAt) * 1_000_000n),
            size_vram: model.size,
            context_length: 4096
          }
        })
      }))

    const version = Effect.succeed(OllamaWire.json({ version: config.version }))

    const router = HttpRouter.empty.pipe(
      HttpRouter.post("/api/generate", native("generate", generate)),
      HttpRouter.post("/api/chat", native("chat", chat)),
      HttpRouter.get("/api/tags", native("tags", tags)),
      HttpRouter.head("/api/tags", native("tags", tags)),
      HttpRouter.get("/api/ps", native("ps", ps)),
      HttpRouter.get("/api/version", native("version", version)),
      HttpRouter.head("/api/version", native("version", version)),
      HttpRouter.get("/", Effect.succeed(HttpServerResponse.text("Ollama is running"))),
      HttpRouter.post(
        "/v1/chat/completions",
        openAiChat.pipe(
          Effect.catchTag(
            "OllamaFailure",
            (failure) => Effect.succeed(OllamaWire.openAiError(failure.status, failure.error))
          ),
          Effect.withSpan("OllamaEmulator.openai.chat")
        )
      )
    )

    const emulator = yield* Emulator.serve(router, {
      port: options.port,
      faults: options.faults,
      seed,
      stats,
      failure: (status) =>
        status === 404 ? OllamaWire.routeNotFound : OllamaWire.nativeError(status, OllamaWire.textOf(status))
    })
    return {
      ...emulator,
      queue: Effect.map(scheduler.state, (state) => ({ running: state.running, waiting: state.waiting.length }))
    }
  })

/**
 * The emulator as a layer: it listens while the layer is alive.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<OllamaEmulator, Faults.InvalidFaultSpec | Emulator.InvalidEmulatorOption | HttpServerError.ServeError> =>
  Layer.scoped(OllamaEmulator, make(options))
