/**
 * One Ollama generation, whatever the route asked: a slot of the scheduler
 * (waited for in the queue, or refused with the 503 "server busy"), the model
 * loaded when it is not in memory, the reply's tokens each after its latency,
 * and the answer as one object or as an NDJSON stream that holds its slot
 * until the last line is written.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as EmulatorStats from "../EmulatorStats.js"
import * as Faults from "../Faults.js"
import type * as OllamaModels from "./ollamaModels.js"
import type { Settings } from "./ollamaOptions.js"
import type * as OllamaScheduler from "./ollamaScheduler.js"
import * as OllamaText from "./ollamaText.js"
import * as OllamaWire from "./ollamaWire.js"

const service = "ollama"

/** One generation, whatever the route: what to say and how to wrap each piece. */
export interface Job {
  readonly model: OllamaModels.Model
  readonly keepAlive: number
  readonly reply: OllamaText.Reply
  readonly promptTokens: number
  /** Draws of the service times of this request. */
  readonly uniform: () => number
}

export interface Timings {
  readonly totalNanos: bigint
  readonly loadNanos: bigint
  readonly evalNanos: bigint
}

/** Ollama's metrics of a finished generation, zero ones left out (`omitempty`). */
export const metrics = (job: Job, timings: Timings) => {
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

/** How a route asks for generations: `answer` runs one, `loadOnly` only loads (or unloads) its model. */
export interface Generation {
  readonly answer: (
    job: Job,
    stream: boolean,
    wrap: (text: string, done: Timings | undefined, createdAt: string) => Record<string, unknown>
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, OllamaWire.OllamaFailure>
  readonly loadOnly: (
    job: Job,
    wrap: (reason: string, createdAt: string) => Record<string, unknown>
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, OllamaWire.OllamaFailure>
}

/** Generations on `scheduler`'s slots; a stream nobody reads is closed in the scope's background. */
export const make = (
  config: Settings,
  stats: EmulatorStats.EmulatorStats,
  scheduler: OllamaScheduler.Scheduler,
  residency: OllamaModels.Residency
): Effect.Effect<Generation, never, Scope.Scope> =>
  Effect.gen(function*() {
    const emulatorScope = yield* Effect.scope
    const createdAt = Effect.map(Clock.currentTimeNanos, OllamaText.timestamp)

    /**
     * Closes a slot's scope. Uninterruptibly: a scope is marked closed before
     * its finalizers run, so a close cut short would skip freeing the slot
     * and no later close could make up for it.
     */
    const release = (scope: Scope.CloseableScope, exit: Exit.Exit<unknown, unknown>) =>
      Effect.uninterruptible(Scope.close(scope, exit))

    /**
     * Takes a slot (waiting in the queue, or failing with the 503), loads the
     * model if it is not in memory, and hands `use` the scope that holds the
     * slot: closing it frees the slot and starts the model's keep-alive. The
     * scope is closed whenever `use` (or the load) fails or is interrupted,
     * and that is installed in the same uninterruptible step that takes the
     * slot, so an interruption at any point cannot leave the slot held.
     */
    const holding = <A, E>(
      job: Job,
      use: (slot: { readonly scope: Scope.CloseableScope; readonly loadNanos: bigint }) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | OllamaWire.OllamaFailure> =>
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
          const load = loadMillis === 0 ? Effect.succeed(0n) : Effect.gen(function*() {
            const from = yield* Clock.currentTimeNanos
            yield* Effect.sleep(Duration.millis(loadMillis)).pipe(
              Effect.withSpan("OllamaEmulator.load", { attributes: { model: job.model.name, millis: loadMillis } })
            )
            return (yield* Clock.currentTimeNanos) - from
          })
          return yield* restore(Effect.flatMap(load, (loadNanos) => use({ scope, loadNanos }))).pipe(
            Effect.onExit((exit) => Exit.isFailure(exit) ? release(scope, exit) : Effect.void)
          )
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
      Effect.flatMap(Clock.currentTimeNanos, (started) =>
        holding(job, ({ loadNanos, scope }) =>
          Effect.gen(function*() {
            const loaded = yield* Clock.currentTimeNanos
            const pieces = tokens(job, started, loaded, loadNanos)
            if (!stream) {
              const all = yield* Stream.runCollect(pieces).pipe(Effect.ensuring(release(scope, Exit.void)))
              const list = [...all]
              const last = list[list.length - 1]!
              return OllamaWire.json(wrap(list.map((piece) => piece.token).join(""), last.timings, yield* createdAt))
            }
            // A stream nobody reads (the client hung up before the answer was written) must not hold its slot.
            let reading = false
            yield* Effect.sleep("2 seconds").pipe(
              Effect.zipRight(Effect.suspend(() => reading ? Effect.void : release(scope, Exit.void))),
              Effect.forkIn(emulatorScope)
            )
            // the runner dies halfway: the 200 is out, so the error comes as one more line, and no `done`
            const failHalfway = config.midStreamError > 0 && job.uniform() < config.midStreamError
            const lines = failHalfway
              ? Stream.take(pieces, Math.max(1, Math.floor(job.reply.tokens.length / 2))).pipe(
                Stream.mapEffect((piece) => Effect.map(createdAt, (at) => ndjson(wrap(piece.token, undefined, at)))),
                Stream.concat(Stream.fromEffect(
                  Effect.as(
                    Effect.logWarning("mid-stream error injected").pipe(
                      Effect.annotateLogs({ service, model: job.model.name })
                    ),
                    ndjson({ error: OllamaWire.runnerStoppedMessage })
                  )
                ))
              )
              : Stream.mapEffect(
                pieces,
                (piece) => Effect.map(createdAt, (at) => ndjson(wrap(piece.token, piece.timings, at)))
              )
            const body = Stream.fromEffect(Effect.sync(() => (reading = true))).pipe(
              Stream.drain,
              Stream.concat(lines),
              Stream.ensuring(release(scope, Exit.void))
            )
            return HttpServerResponse.stream(body, { contentType: "application/x-ndjson" })
          })))

    /** An empty prompt only loads (or, with keep_alive 0, unloads) the model: one object, stream or not. */
    const loadOnly = (job: Job, wrap: (reason: string, createdAt: string) => Record<string, unknown>) =>
      holding(job, ({ scope }) =>
        Effect.zipRight(
          release(scope, Exit.void),
          Effect.map(createdAt, (at) => OllamaWire.json(wrap(job.keepAlive === 0 ? "unload" : "load", at)))
        ))

    return { answer, loadOnly }
  })
