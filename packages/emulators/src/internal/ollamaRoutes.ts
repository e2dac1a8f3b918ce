/**
 * The Ollama emulator's routes and scheduler: `/api/generate` and `/api/chat`
 * (NDJSON streams or single objects), `/api/tags`, `/api/ps`, `/api/version`
 * and the non-streaming `/v1/chat/completions`; each generation holds a slot
 * of the scheduler (or waits for one, or is refused with the 503) and loads
 * its model when it is not in memory.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as EmulatorStats from "../EmulatorStats.js"
import * as Generation from "./ollamaGeneration.js"
import * as OllamaModels from "./ollamaModels.js"
import type { Settings } from "./ollamaOptions.js"
import * as OllamaScheduler from "./ollamaScheduler.js"
import * as OllamaText from "./ollamaText.js"
import * as OllamaWire from "./ollamaWire.js"
import * as Seeded from "./seeded.js"

/** The routes, the answer for an injected status, and the scheduler's state, for the life of the scope. */
export const make = (config: Settings, stats: EmulatorStats.EmulatorStats) =>
  Effect.gen(function*() {
    const seed = config.seed
    const scheduler = yield* OllamaScheduler.make({ numParallel: config.numParallel, maxQueue: config.maxQueue })
    const residency = OllamaModels.residency()
    const startedAt = yield* Clock.currentTimeNanos
    const { answer, loadOnly } = yield* Generation.make(config, stats, scheduler, residency)

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
            ...Generation.metrics(job, done)
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
            ...Generation.metrics(job, done)
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

    const failure = (status: number) =>
      status === 404 ? OllamaWire.routeNotFound : OllamaWire.nativeError(status, OllamaWire.textOf(status))

    return {
      router,
      failure,
      queue: Effect.map(scheduler.state, (state) => ({ running: state.running, waiting: state.waiting.length }))
    }
  })
