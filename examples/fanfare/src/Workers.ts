/**
 * Workers: job supervisors that run composition jobs from a shared store, each
 * with its own Orpheus client (its own bulkheads), as separate processes
 * would. Two hootenanny servers, say, in front of the same GPUs.
 */
import { Orpheus } from "@bulwark/clients"
import { JobSupervisor } from "@bulwark/jobs"
import type { Layer } from "effect"
import { Context, Effect, Layer as L } from "effect"
import type { Compose } from "./Composition.js"

export interface WorkerOptions<E> {
  /** The lease owner: it names the worker in the store and in logs. */
  readonly name: string
  readonly compose: Compose
  /** This worker's Orpheus client, built once for it. */
  readonly orpheus: Layer.Layer<Orpheus.Orpheus, E>
  /** Changes the client's service (tests inject a failure with it). */
  readonly wrap?: ((service: Orpheus.Service) => Orpheus.Service) | undefined
}

/** Starts a worker in the current scope; it stops (releasing its running jobs) when the scope closes. */
export const start = <E>(options: WorkerOptions<E>) =>
  Effect.gen(function*() {
    const built = yield* L.build(options.orpheus)
    const service = Context.get(built, Orpheus.Orpheus)
    const orpheus = options.wrap === undefined ? service : options.wrap(service)
    return yield* JobSupervisor.make({
      types: [options.compose],
      owner: options.name,
      pollInterval: "250 millis",
      shutdownGrace: "1 second"
    }).pipe(Effect.provideService(Orpheus.Orpheus, orpheus))
  }).pipe(Effect.annotateLogs({ worker: options.name }))

/**
 * The supervisor the tools use: it runs no job type, it submits, reads and
 * waits (checking the store every 100 ms for what the workers did).
 */
export const tools = JobSupervisor.make({ types: [], pollInterval: "100 millis", retention: false })
