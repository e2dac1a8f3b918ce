/**
 * The demo's composition workflow: a compact copy of examples/fanfare
 * (packages never import examples). One job per piece, four durable steps —
 * generate → continue → bridge → loops — each an Orpheus call with
 * `client_job_id` = the job's id, behind a per-worker gate of one call per GPU.
 *
 * Not marked `@internal`: the job type appears in `Demo`'s public signatures,
 * and `stripInternal` would drop it from the declarations.
 */
import * as Orpheus from "@bulwark/clients/Orpheus"
import * as Bulkhead from "@bulwark/core/Bulkhead"
import * as Classify from "@bulwark/core/Classify"
import type { InvalidPolicy } from "@bulwark/core/Errors"
import type * as JobStore from "@bulwark/jobs/JobStore"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as JobType from "@bulwark/jobs/JobType"
import * as Workflow from "@bulwark/jobs/Workflow"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

/**
 * The Orpheus models the workflow calls.
 *
 * @since 0.1.0
 * @category Demo
 */
export const models = ["base", "bridge", "loops"] as const

/**
 * One of {@link models}.
 *
 * @since 0.1.0
 * @category Demo
 */
export type Model = typeof models[number]

/**
 * The workflow's steps, in order.
 *
 * @since 0.1.0
 * @category Demo
 */
export const steps = ["generate", "continue", "bridge", "loops"] as const

/**
 * The payload of a composition job.
 *
 * @since 0.1.0
 * @category Demo
 */
export const Request = Schema.Struct({
  title: Schema.String,
  maxTokens: Schema.Int.pipe(Schema.between(1, 8192))
})

/**
 * One generated section, as stored with the job (the MIDI as base64).
 *
 * @since 0.1.0
 * @category Demo
 */
export const Section = Schema.Struct({ midi: Schema.Uint8ArrayFromBase64, tokens: Schema.Number })

/**
 * The result of a composition job.
 *
 * @since 0.1.0
 * @category Demo
 */
export const Piece = Schema.Struct({
  title: Schema.String,
  sections: Schema.Array(Schema.Struct({ step: Schema.String, tokens: Schema.Number })),
  tokens: Schema.Number
})

/**
 * What a worker tells the demo about its GPU calls, synchronously, as they
 * happen: a call waits at the worker's gate, is sent, is answered.
 *
 * @since 0.1.0
 * @category Demo
 */
export interface GpuHooks {
  readonly queued: (jobId: string, model: Model) => void
  readonly sent: (jobId: string, model: Model) => void
  readonly answered: (jobId: string, model: Model, status: number, retryAfterMillis: number | undefined) => void
}

/**
 * Transient failures re-queue the job, also when the client already gave up retrying them.
 *
 * @since 0.1.0
 * @category Demo
 */
export const isTransient = (error: unknown): boolean =>
  Classify.isTransient(error) || Classify.tagOf(error) === "GpuBusy"

const compose = (request: typeof Request.Type) =>
  Effect.gen(function*() {
    const job = yield* JobType.CurrentJob
    const orpheus = yield* Orpheus.Orpheus
    const call = { maxTokens: request.maxTokens, clientJobId: job.id }
    const section = (step: string, generation: Effect.Effect<Orpheus.Generation, Orpheus.OrpheusError>) =>
      Effect.map(generation, (done) => ({ midi: done.variations[0]!.midi, tokens: done.variations[0]!.numTokens }))
        .pipe(
          Effect.tap((done) => JobType.reportProgress({ step, tokens: done.tokens }))
        )
    const opening = yield* Workflow.step("generate", Section, section("generate", orpheus.generate(call)))
    const development = yield* Workflow.step(
      "continue",
      Section,
      section("continue", orpheus.continue({ ...call, midi: opening.midi }))
    )
    const bridge = yield* Workflow.step(
      "bridge",
      Section,
      section("bridge", orpheus.bridge({ ...call, sectionA: development.midi, sectionB: opening.midi }))
    )
    const loops = yield* Workflow.step(
      "loops",
      Section,
      section("loops", orpheus.loops({ ...call, seed: bridge.midi }))
    )
    const sections = [opening, development, bridge, loops].map((done, i) => ({ step: steps[i]!, tokens: done.tokens }))
    const piece: typeof Piece.Type = {
      title: request.title,
      sections,
      tokens: sections.reduce((sum, s) => sum + s.tokens, 0)
    }
    return piece
  })

/**
 * The show's time scale.
 *
 * @since 0.1.0
 * @category Demo
 */
export interface Timing {
  /** Mean GPU time of one orpheus-base call, in milliseconds: everything else scales with it. */
  readonly serviceMillis: number
}

/**
 * The job type: re-queued after a failed attempt with a backoff that scales with the service time.
 *
 * @since 0.1.0
 * @category Demo
 */
export const composeJob = (timing: Timing, concurrency: number) =>
  JobType.make({
    name: "demo.compose",
    payload: Request,
    result: Piece,
    handler: compose,
    maxAttempts: 5,
    base: Duration.millis(Math.round(2 * timing.serviceMillis)),
    maxDelay: Duration.millis(Math.round(60 * timing.serviceMillis)),
    concurrency,
    retryOn: isTransient
  })

/**
 * The composition job type.
 *
 * @since 0.1.0
 * @category Demo
 */
export type ComposeJob = ReturnType<typeof composeJob>

const isRejection = (error: unknown): error is Bulkhead.Rejection =>
  error instanceof Bulkhead.BulkheadFull || error instanceof Bulkhead.BulkheadQueueTimeout

/**
 * One call per GPU at a time from this worker, its busy waits included (a
 * bulkhead around the whole call, outside the client's retry): the worker
 * queues its own calls instead of sending them to a busy GPU, so GPU-busy
 * answers come only from the other workers' calls.
 *
 * @since 0.1.0
 * @category Demo
 */
export const gate = (orpheus: Orpheus.Service, hooks: GpuHooks | undefined) =>
  Effect.gen(function*() {
    const bulkheads = {} as Record<Model, Bulkhead.Bulkhead>
    for (const model of models) {
      bulkheads[model] = yield* Bulkhead.make({ service: `gpu-orpheus-${model}`, maxConcurrent: 1, maxQueue: Infinity })
    }
    const through = (model: Model, jobId: string | undefined) => <A, E>(call: Effect.Effect<A, E>) =>
      Effect.zipRight(
        Effect.sync(() => jobId !== undefined && hooks?.queued(jobId, model)),
        // An unbounded queue without a queue timeout refuses nothing.
        bulkheads[model].protect(call).pipe(Effect.catchIf(isRejection, Effect.die))
      ) as Effect.Effect<A, E>
    return {
      ...orpheus,
      generate: (options) => through("base", options?.clientJobId)(orpheus.generate(options)),
      continue: (options) => through("base", options.clientJobId)(orpheus.continue(options)),
      bridge: (options) => through("bridge", options.clientJobId)(orpheus.bridge(options)),
      loops: (options) => through("loops", options?.clientJobId)(orpheus.loops(options))
    } satisfies Orpheus.Service
  })

/** Reports every attempt on the wire to `hooks`: sent, and answered with its status and hint. */
const watchWire = (urls: Readonly<Record<Model, string>>, hooks: GpuHooks) => {
  const modelOf = (url: string) => models.find((model) => url.startsWith(urls[model]))
  return (client: HttpClient.HttpClient): HttpClient.HttpClient =>
    HttpClient.transform(client, (effect, request) => {
      const model = modelOf(request.url)
      const jobId = Option.getOrUndefined(UrlParams.getFirst(request.urlParams, "client_job_id"))
      if (model === undefined || jobId === undefined) return effect
      return Effect.zipRight(
        Effect.sync(() => hooks.sent(jobId, model)),
        Effect.tap(effect, (response) =>
          Effect.sync(() => {
            const hint = Number(response.headers["retry-after-ms"])
            hooks.answered(jobId, model, response.status, Number.isFinite(hint) ? hint : undefined)
          }))
      )
    })
}

/**
 * What one worker is made of.
 *
 * @since 0.1.0
 * @category Demo
 */
export interface WorkerSettings {
  readonly name: string
  readonly urls: Readonly<Record<Model, string>>
  readonly type: ComposeJob
  readonly timing: Timing
  readonly hooks?: GpuHooks | undefined
}

/**
 * A worker: its own Orpheus client (its own breakers and gate, as another
 * process would have) and a supervisor running the compose jobs of the store.
 *
 * @since 0.1.0
 * @category Demo
 */
export const makeWorker = (
  settings: WorkerSettings
): Effect.Effect<
  { readonly supervisor: JobSupervisor.Service; readonly orpheus: Orpheus.Service },
  InvalidPolicy,
  JobStore.JobStore | Scope.Scope
> =>
  Effect.gen(function*() {
    const { hooks, timing } = settings
    const orpheus = yield* Orpheus.make({
      urls: settings.urls,
      policy: {
        retry: { base: Duration.millis(Math.max(1, Math.round(timing.serviceMillis / 3))) },
        // An outage of a model's server opens its breaker briefly (60 s by default).
        circuitBreaker: { openDuration: Duration.millis(Math.round(3 * timing.serviceMillis)) }
      },
      transformClient: hooks === undefined ? undefined : watchWire(settings.urls, hooks)
    }).pipe(Effect.provide(FetchHttpClient.layer))
    const gated = yield* gate(orpheus, hooks)
    const supervisor = yield* JobSupervisor.make({
      types: [settings.type],
      owner: settings.name,
      pollInterval: Duration.millis(Math.max(50, Math.round(timing.serviceMillis))),
      shutdownGrace: "1 second",
      retention: false
    }).pipe(Effect.provideService(Orpheus.Orpheus, gated))
    return { supervisor, orpheus }
  }).pipe(Effect.annotateLogs({ worker: settings.name }))
