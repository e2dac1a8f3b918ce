/**
 * The Orpheus servers the composition calls — orpheus-base (generate,
 * continue), orpheus-bridge and orpheus-loops — and the client policy in
 * front of their GPUs.
 *
 * A server whose `ORPHEUS_<MODEL>_URL` is set is the real one; for every other
 * an in-process emulator is started, with a GPU of capacity 1 that answers
 * "429 GPU busy" while it works, as seed 000's servers do.
 */
import { Orpheus } from "@bulwark/clients"
import { Bulkhead } from "@bulwark/core"
import type { Emulator, EmulatorStats } from "@bulwark/emulators"
import { OrpheusEmulator } from "@bulwark/emulators"
import { FetchHttpClient, HttpClient, UrlParams } from "@effect/platform"
import type { Duration } from "effect"
import { Config, Effect, Layer, Option } from "effect"

/** The models the workflow calls. */
export const models = ["base", "bridge", "loops"] as const
export type Model = typeof models[number]

export interface EmulatorOptions {
  /** GPU slots of each emulated server. Default 1. */
  readonly capacity?: number | undefined
  /** GPU time of a request before its tokens (a `Faults` distribution). Default `"20ms..40ms"`. */
  readonly serviceTime?: string | undefined
  /** GPU time per generated token: generation is linear in tokens. Default 3. */
  readonly millisPerToken?: number | undefined
  /** Seeds the emulators' outputs and service times. Default 0. */
  readonly seed?: number | undefined
  /** A fault timeline per model (`"status=500@2s-3s"`, see docs/emulators.md). */
  readonly faults?: Partial<Record<Model, string>> | undefined
}

export interface GpuServers {
  /** Each model's URL: the emulator's, or the one of `ORPHEUS_<MODEL>_URL`. */
  readonly urls: Readonly<Record<Model, string>>
  /** The emulators started (models whose URL variable is not set). */
  readonly emulators: Readonly<Partial<Record<Model, OrpheusEmulator.Service>>>
  /** Each emulator's counters, by model. */
  readonly stats: Effect.Effect<ReadonlyArray<{ readonly model: Model; readonly stats: EmulatorStats.Snapshot }>>
}

const variable = (model: Model) => `ORPHEUS_${Orpheus.configKeys.urls[model]}`

/**
 * Starts an emulator for every model without a URL in the environment.
 *
 * The emulators' busy answers say when the GPU frees (`busyHint: "remaining"`,
 * an emulator extension): a server that knows its queue. The real contract
 * says `Retry-After: 30` whatever the queue; the client honours either.
 */
export const start = (options: EmulatorOptions = {}) =>
  Effect.gen(function*() {
    const urls = {} as Record<Model, string>
    const emulators: Partial<Record<Model, OrpheusEmulator.Service>> = {}
    for (const model of models) {
      const configured = yield* Config.option(Config.string(variable(model)))
      if (Option.isSome(configured)) {
        urls[model] = configured.value
        continue
      }
      const emulator = yield* OrpheusEmulator.make({
        model,
        capacity: options.capacity ?? 1,
        busy: "429",
        busyHint: "remaining",
        serviceTime: options.serviceTime ?? "20ms..40ms",
        millisPerToken: options.millisPerToken ?? 3,
        seed: options.seed ?? 0,
        faults: options.faults?.[model]
      })
      emulators[model] = emulator
      urls[model] = emulator.url
    }
    const running = models.flatMap((model) => {
      const emulator: Emulator.Emulator | undefined = emulators[model]
      return emulator === undefined ? [] : [{ model, emulator }]
    })
    const stats = Effect.forEach(running, ({ emulator, model }) =>
      Effect.map(emulator.stats, (stats) => ({ model, stats })))
    return { urls, emulators, stats } satisfies GpuServers
  })

/**
 * One call per GPU at a time from this worker, its busy waits included: a
 * bulkhead of the GPU's capacity around each whole call (not inside the
 * client's retry, where a call waiting out a 429 would give its place to the
 * next one, which would meet the busy GPU too).
 *
 * The worker queues its own calls locally instead of at the GPU, so a
 * GPU-busy answer only comes from another client of the same GPU (another
 * worker) and at most one of this worker's calls waits one out. Against a
 * fixed `Retry-After: 30` this is what keeps the GPU busy (docs/benchmarks.md,
 * "contention": a bulkhead of 1 at 95 % utilisation, where probing the GPU
 * gets 22 %).
 */
const isRejection = (error: unknown): error is Bulkhead.Rejection =>
  error instanceof Bulkhead.BulkheadFull || error instanceof Bulkhead.BulkheadQueueTimeout

export const gate = (orpheus: Orpheus.Service, slots = 1) =>
  Effect.gen(function*() {
    const bulkheads = {} as Record<Model, Bulkhead.Bulkhead>
    for (const model of models) {
      bulkheads[model] = yield* Bulkhead.make({
        service: `gpu-orpheus-${model}`,
        maxConcurrent: slots,
        maxQueue: Infinity
      })
    }
    // An unbounded queue without a queue timeout refuses nothing.
    const through = (model: Model) => <A, E>(call: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      bulkheads[model].protect(call).pipe(Effect.catchIf(isRejection, Effect.die)) as Effect.Effect<A, E>
    return {
      ...orpheus,
      generate: (options) => through("base")(orpheus.generate(options)),
      continue: (options) => through("base")(orpheus.continue(options)),
      bridge: (options) => through("bridge")(orpheus.bridge(options)),
      loops: (options) => through("loops")(orpheus.loops(options))
    } satisfies Orpheus.Service
  })

/** Counts the GPU-busy answers each job met, on the wire (every attempt, before the policy). */
export interface GpuWatch {
  readonly transformClient: (client: HttpClient.HttpClient) => HttpClient.HttpClient
  readonly busy: Effect.Effect<{ readonly total: number; readonly byJob: ReadonlyMap<string, number> }>
}

export const watch: Effect.Effect<GpuWatch> = Effect.sync(() => {
  const byJob = new Map<string, number>()
  let total = 0
  return {
    transformClient: HttpClient.transform((effect, request) =>
      Effect.tap(effect, (response) =>
        Effect.sync(() => {
          if (response.status !== 429) return
          total++
          const id = Option.getOrElse(UrlParams.getFirst(request.urlParams, "client_job_id"), () => "")
          byJob.set(id, (byJob.get(id) ?? 0) + 1)
        }))
    ),
    busy: Effect.sync(() => ({ total, byJob: new Map(byJob) }))
  }
})

/**
 * One worker's Orpheus client: `ORPHEUS_*` variables over `urls`, the
 * client's defaults (busy answers waited out exactly as Retry-After says,
 * without using an attempt, within a 15 minute deadline), and the GPU gate. Build it once per worker: each gets its own bulkheads, as a
 * worker in another process would.
 */
export const client = (
  urls: Readonly<Record<Model, string>>,
  options: {
    readonly watch?: GpuWatch | undefined
    readonly slots?: number | undefined
    /** The client's first backoff after a failed call (a busy answer waits what the server says). Default 1 s. */
    readonly retryBase?: Duration.DurationInput | undefined
  } = {}
) =>
  Layer.effect(Orpheus.Orpheus, Effect.flatMap(Orpheus.Orpheus, (orpheus) => gate(orpheus, options.slots))).pipe(
    Layer.provide(
      Orpheus.layerConfig({
        urls,
        policy: options.retryBase === undefined ? undefined : { retry: { base: options.retryBase } },
        transformClient: options.watch?.transformClient
      })
    ),
    Layer.provide(FetchHttpClient.layer)
  )
