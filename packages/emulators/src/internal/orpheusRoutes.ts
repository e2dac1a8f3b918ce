/**
 * The Orpheus emulator's routes and GPU: `POST /predict`, `GET /health`, the
 * busy answers while every slot is taken, and the service's own answers for
 * the statuses the fault timeline injects.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as http from "node:http"
import type * as EmulatorStats from "../EmulatorStats.js"
import * as Faults from "../Faults.js"
import * as Gpu from "./orpheusGpu.js"
import * as Midi from "./orpheusMidi.js"
import type { Settings } from "./orpheusOptions.js"
import * as Request from "./orpheusRequest.js"
import * as Seeded from "./seeded.js"

/** The bodies of the busy answers (re-exported by `OrpheusEmulator`). */
export const busyBodies = {
  "429": { error: "GPU busy", message: "Another request is being processed" },
  "503": { detail: "Service is busy processing another request" }
} as const

const voices: Record<Request.Model, Midi.Voice> = {
  base: "poly",
  classifier: "poly",
  bridge: "poly",
  loops: "drums",
  children: "poly",
  mono_melodies: "mono"
}

const hex = (uniform: () => number, digits: number) => {
  let text = ""
  while (text.length < digits) text += Math.floor(uniform() * 0x1_0000_0000).toString(16).padStart(8, "0")
  return text.slice(0, digits)
}

const traceparent = /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson(body, { status, headers })

/** Reads `client_job_id` from the query (v2) or else the body (v1); `undefined` when absent or invalid. */
const clientJobIdOf = (url: string, body: unknown): unknown => {
  const query = new URLSearchParams(url.split("?")[1] ?? "").get("client_job_id")
  if (query !== null) return query
  return typeof body === "object" && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>).client_job_id
    : undefined
}

/** The routes, the service's answer for an injected status, and the GPU they share, for the life of the scope. */
export const make = (config: Settings, stats: EmulatorStats.EmulatorStats) =>
  Effect.gen(function*() {
    const { model, service } = config
    const gpu = Gpu.make(config.capacity, yield* Effect.scope)
    const serviceTimes = Seeded.generator(Seeded.hash(`${config.seed}:service-time`))
    let traces = 0

    const hints = (windowMillis: number | undefined, retryAfter: boolean): Record<string, string> => ({
      ...(retryAfter ?
        {
          "retry-after": String(
            windowMillis === undefined ? config.retryAfterSeconds : Math.ceil(windowMillis / 1000)
          )
        } :
        {}),
      ...(config.retryAfterMs === undefined ? {} : {
        "retry-after-ms": String(windowMillis === undefined ? config.retryAfterMs : Math.ceil(windowMillis))
      })
    })

    /** When each running request will free its slot, kept in step with the GPU's slots. */
    const freeAt: Array<number> = []
    const clock = yield* Effect.clock

    const fixedBusyAnswer = config.busy === "503"
      ? json(busyBodies["503"], 503, hints(undefined, false))
      : json(busyBodies["429"], 429, hints(undefined, config.busy === "429"))

    const busyAnswer = config.busyHint === "fixed" ? Effect.succeed(fixedBusyAnswer) : Effect.map(
      Clock.currentTimeMillis,
      (now) => {
        const millis = Math.max(0, Math.min(...freeAt) - now)
        // never a non-finite hint: should the bookkeeping ever be empty, say what the fixed hint says
        if (!Number.isFinite(millis)) return fixedBusyAnswer
        const headers = { "retry-after": String(Math.ceil(millis / 1000)), "retry-after-ms": String(Math.ceil(millis)) }
        return config.busy === "503" ? json(busyBodies["503"], 503, headers) : json(busyBodies["429"], 429, headers)
      }
    )

    /**
     * Holds a slot of the GPU for the drawn service time, counted as busy
     * time. The draw and the free-at entry happen in the step that takes the
     * slot, and the entry leaves in the step that frees it, so a busy answer
     * always finds one entry per slot taken.
     */
    const work = (tokens: number) => (): Gpu.Job<void, never> => {
      const millis = Faults.sample(config.serviceTime, serviceTimes) + config.millisPerToken * tokens
      const end = clock.unsafeCurrentTimeMillis() + millis
      freeAt.push(end)
      return {
        work: stats.busy(millis > 0 ? Effect.sleep(Duration.millis(millis)) : Effect.void),
        released: () => {
          freeAt.splice(freeAt.indexOf(end), 1)
        }
      }
    }

    const onGpu = (tokens: number): Effect.Effect<boolean> =>
      config.busy === "queue"
        ? Effect.as(gpu.run(work(tokens)), true)
        : config.busy === "none"
        ? Effect.as(gpu.runUnbounded(work(tokens)), true)
        : Effect.map(gpu.tryRun(work(tokens)), Option.isSome)

    const meta = (headers: Readonly<Record<string, string | undefined>>, clientJobId: string | undefined) => {
      const ids = Seeded.forRequest(config.seed, ["trace", traces++])
      const parent = traceparent.exec(headers.traceparent ?? "")
      return {
        service,
        trace_id: parent?.[1] ?? hex(ids, 32),
        span_id: hex(ids, 16),
        ...(clientJobId === undefined ? {} : { client_job_id: clientJobId })
      }
    }

    const predict = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const parsed = Request.parseJson(yield* request.text)
      const body = "body" in parsed ? parsed.body : undefined
      const candidate = clientJobIdOf(request.url, body)
      let clientJobId: string | undefined
      if (typeof candidate === "string" && Request.clientJobIdPattern.test(candidate)) {
        clientJobId = candidate
        yield* stats.clientJobId(candidate)
        yield* Effect.annotateCurrentSpan("client_job_id", candidate)
      } else if (candidate !== undefined) {
        yield* Effect.logWarning("invalid client_job_id dropped").pipe(
          Effect.annotateLogs({ client_job_id: String(candidate).slice(0, 300) })
        )
      }
      const checked = "body" in parsed ? Request.validate(model, body) : parsed
      if (checked._tag === "Invalid") return json({ detail: checked.detail }, 422)

      if (checked._tag === "Classify") {
        if (!(yield* onGpu(0))) return yield* busyAnswer
        const human = Seeded.forRequest(config.seed, [service, checked.midi])()
        return json({
          classification: {
            is_human: human > 0.5,
            confidence: human > 0.5 ? human : 1 - human,
            probabilities: { human, ai: 1 - human }
          },
          num_tokens: Math.min(checked.tokens, 1024),
          meta: meta(request.headers, clientJobId)
        })
      }

      yield* Effect.annotateCurrentSpan({ task: checked.task, num_variations: checked.numVariations })
      // one generator per variation: its first draws say where EOS falls, the rest write the notes
      const variations = Array.from({ length: checked.numVariations }, (_, index) => {
        const uniform = Seeded.forRequest(config.seed, [
          service,
          checked.task,
          checked.prompt ?? null,
          checked.temperature,
          checked.topP,
          checked.maxTokens,
          index
        ])
        const tokens = uniform() < 0.75
          ? checked.maxTokens
          : Math.max(1, Math.floor(checked.maxTokens * (0.5 + 0.5 * uniform())))
        return { uniform, tokens }
      })
      if (!(yield* onGpu(variations.reduce((sum, variation) => sum + variation.tokens, 0)))) return yield* busyAnswer
      return json({
        task: checked.task,
        variations: variations.map(({ tokens, uniform }) => ({
          midi_base64: Midi.encodeBase64(Midi.synthesize(uniform, tokens, voices[model])),
          num_tokens: tokens
        })),
        meta: meta(request.headers, clientJobId)
      })
    }).pipe(
      Effect.withSpan("OrpheusEmulator.predict", { attributes: { service, model } }),
      Effect.annotateLogs({ service })
    )

    const notAllowed = json({ detail: "Method Not Allowed" }, 405)
    const router = HttpRouter.empty.pipe(
      HttpRouter.post("/predict", predict),
      HttpRouter.get("/predict", Effect.succeed(notAllowed)),
      HttpRouter.get(
        "/health",
        Effect.succeed(json({ status: "ok", service, version: "2.0.0" })).pipe(
          Effect.withSpan("OrpheusEmulator.health", { attributes: { service } })
        )
      ),
      HttpRouter.post("/health", Effect.succeed(notAllowed))
    )

    const failure = (status: number, decision: Faults.Decision) => {
      const window = decision.statusEndsInMillis
      switch (status) {
        case 429:
          return json(
            busyBodies["429"],
            429,
            hints(window, config.busy !== "429-no-retry-after" || window !== undefined)
          )
        case 503:
          return json({ detail: "Service Unavailable" }, 503, hints(window, window !== undefined))
        case 500:
          return HttpServerResponse.text("Internal Server Error", { status: 500 })
        case 404:
          return json({ detail: "Not Found" }, 404)
        default:
          return json({ detail: http.STATUS_CODES[status] ?? "Error" }, status)
      }
    }

    return { router, failure, gpu: Effect.sync(() => gpu.state()) }
  })
