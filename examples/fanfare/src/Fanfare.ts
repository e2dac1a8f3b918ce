/**
 * The program: start the GPU servers (emulators unless `ORPHEUS_*_URL` is
 * set), the workers and the tools on one job store, submit a batch of
 * compositions, wait for every one, and report what the GPUs did.
 */
import type { Orpheus } from "@bulwark/clients"
import type { EmulatorStats } from "@bulwark/emulators"
import type { Job, JobStore } from "@bulwark/jobs"
import { JobSupervisor } from "@bulwark/jobs"
import type { Duration } from "effect"
import { Clock, Effect, Layer } from "effect"
import type { ComposeOptions } from "./Composition.js"
import { makeCompose } from "./Composition.js"
import * as GpuServers from "./GpuServers.js"
import * as Tools from "./Tools.js"
import * as Workers from "./Workers.js"

export interface Options {
  /** Compositions to submit. Default 8. */
  readonly jobs?: number | undefined
  /** Workers sharing the store and the GPUs. Default 2. */
  readonly workers?: number | undefined
  /** Tokens per section. Default 128. */
  readonly maxTokens?: number | undefined
  /** The job store. */
  readonly store: Layer.Layer<JobStore.JobStore, JobStore.StoreFailure>
  readonly emulators?: GpuServers.EmulatorOptions | undefined
  /** Re-queueing and per-worker concurrency of the composition jobs. */
  readonly compose?: ComposeOptions | undefined
  /** The client's first backoff after a failed call (busy answers wait what the server says). Default 1 second. */
  readonly retryBase?: Duration.DurationInput | undefined
  /** Changes each worker's Orpheus service (tests inject failures with it). */
  readonly wrapOrpheus?: ((service: Orpheus.Service) => Orpheus.Service) | undefined
  /** How long to wait for each job. Default 300 seconds (the seed's `wait_for_job`). */
  readonly timeout?: Duration.DurationInput | undefined
}

export interface Report {
  /** The jobs of this run (resumed ones first), as they ended. */
  readonly jobs: ReadonlyArray<Tools.JobInfo>
  /** Unfinished jobs of an earlier run that this run finished. */
  readonly resumed: ReadonlyArray<string>
  /** GPU-busy answers the workers waited out, in all and by job id. */
  readonly busy: { readonly total: number; readonly byJob: ReadonlyMap<string, number> }
  readonly gpus: ReadonlyArray<{ readonly model: GpuServers.Model; readonly stats: EmulatorStats.Snapshot }>
  readonly urls: Readonly<Record<GpuServers.Model, string>>
  readonly elapsedMillis: number
}

const short = (id: string) => id.slice(0, 8)

export const run = (options: Options) =>
  Effect.gen(function*() {
    const compose = makeCompose(options.compose)
    const servers = yield* GpuServers.start(options.emulators)
    for (const model of GpuServers.models) {
      const emulated = servers.emulators[model] !== undefined
      yield* Effect.log(
        `orpheus-${model}: ${servers.urls[model]}${
          emulated ? ` (emulator, GPU capacity ${options.emulators?.capacity ?? 1})` : ""
        }`
      )
    }
    const watch = yield* GpuServers.watch
    const store = yield* Layer.build(options.store)
    const workers = options.workers ?? 2
    for (let i = 1; i <= workers; i++) {
      yield* Workers.start({
        name: `worker-${i}`,
        compose,
        orpheus: GpuServers.client(servers.urls, { watch, retryBase: options.retryBase }),
        wrap: options.wrapOrpheus
      }).pipe(Effect.provide(store))
    }
    const tools = yield* Workers.tools.pipe(Effect.provide(store))

    return yield* Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const unfinished = (yield* Tools.list).filter((job) =>
        job.toolName === compose.name &&
        (job.status === "pending" || job.status === "running" || job.status === "retrying")
      )
      const resumed = unfinished.map((job) => job.jobId as Job.JobId)
      if (resumed.length > 0) {
        yield* Effect.log(
          `Resuming ${resumed.length} unfinished job(s) of an earlier run: ${resumed.map(short).join(", ")}`
        )
      }
      const submitted: Array<Job.JobId> = []
      const count = options.jobs ?? 8
      for (let i = 1; i <= count; i++) {
        const title = `Victory fanfare no. ${i}`
        const id = yield* Tools.submit(compose, { title, maxTokens: options.maxTokens ?? 128, temperature: 1 })
        submitted.push(id)
        yield* Effect.log(`Submitted job ${id}: ${title}`)
      }
      const jobs = yield* Effect.forEach([...resumed, ...submitted], (id) =>
        Tools.wait(compose, id, options.timeout).pipe(
          Effect.tap((job) =>
            job.status === "complete"
              ? Effect.log(
                `Job ${short(id)} complete: ${job.result?.title}, ${job.result?.sections.length} sections, ` +
                  `${job.result?.tokens} tokens (attempts ${job.attempts})`
              )
              : Effect.logError(`Job ${short(id)} ${job.status}: ${job.error}`)
          )
        ), { concurrency: "unbounded" })
      const end = yield* Clock.currentTimeMillis
      return {
        jobs,
        resumed,
        busy: yield* watch.busy,
        gpus: yield* servers.stats,
        urls: servers.urls,
        elapsedMillis: end - start
      } satisfies Report
    }).pipe(Effect.provideService(JobSupervisor.JobSupervisor, tools))
  })
