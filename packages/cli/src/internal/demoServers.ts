/**
 * The demo's services, in-process on 127.0.0.1: three Orpheus model servers
 * (base, bridge, loops), each a GPU of capacity 1 that answers "429 GPU busy"
 * while it works, and the heartbeat's upstream, an Ollama server. Every time
 * is a multiple of the service time of one orpheus-base call, so a test can
 * run the same show ten times faster.
 *
 * Private to the package (it lives in internal/); not tagged `@internal`, because the
 * tests type-check against the declarations, which `stripInternal` would strip it from.
 */
import * as OllamaEmulator from "@bulwark/emulators/OllamaEmulator"
import * as OrpheusEmulator from "@bulwark/emulators/OrpheusEmulator"
import * as Effect from "effect/Effect"
import type { Model, Timing } from "./demoWorkflow.js"

const ms = (millis: number) => `${Math.max(1, Math.round(millis))}ms`

/**
 * The heartbeat's probe interval, whatever the service time: the storm is
 * counted in probes, so an event-loop stall of a few hundred milliseconds
 * (a loaded CI runner) cannot hide it from the breaker.
 */
const probeEvery = 100

/** Probes that meet the storm: the breaker needs three failures in a row to open. */
const stormProbes = 12

/**
 * The show's schedule, from the service time `s` of one orpheus-base call
 * and the number of jobs `n`. Each worker's gate serves its calls in order, so
 * orpheus-base generates the openings first (about `n·s`), then the
 * continuations, each followed by its bridge. From `n·s`, for `min(n + 4, 12)·s`,
 * the bridge server flakes: 95 % of its answers are 500s, so nearly every
 * bridge sent in that window fails three times in a row and its job is
 * re-queued, and a worker's orpheus-bridge breaker opens after five in a row.
 * A job's backoff (at least `s`, `2·s`, `4·s`, `8·s`) keeps at most four of
 * its five attempts in that window: no job can fail for it.
 * The heartbeat's upstream answers 503 from `3·s` for twelve probes (1.2 s,
 * a probe every 100 ms whatever `s` is); the breaker stays open for six.
 *
 * @since 0.1.0
 * @category Demo
 */
export const schedule = (timing: Timing, jobs: number) => {
  const s = timing.serviceMillis
  const flaky = { from: jobs * s, to: (jobs + Math.min(jobs + 4, 12)) * s }
  return {
    serviceTime: { base: `${ms(0.8 * s)}..${ms(1.2 * s)}`, other: `${ms(0.5 * s)}..${ms(0.8 * s)}` },
    // Below 100 % on purpose: a window that strikes every request announces its end as a
    // Retry-After, and the client would wait it out instead of giving up and re-queueing.
    flaky,
    bridgeFaults: `status=500~0.95@${ms(flaky.from)}-${ms(flaky.to)}`,
    storm: { from: 3 * s, to: 3 * s + stormProbes * probeEvery },
    probeEvery,
    breakerOpen: 6 * probeEvery
  }
}

/**
 * @since 0.1.0
 * @category Demo
 */
export interface Servers {
  readonly orpheus: Readonly<Record<Model, OrpheusEmulator.Service>>
  readonly urls: Readonly<Record<Model, string>>
}

/**
 * @since 0.1.0
 * @category Demo
 */
export const start = (timing: Timing, jobs: number, seed: number) =>
  Effect.gen(function*() {
    const plan = schedule(timing, jobs)
    const orpheus = (model: Model, serviceTime: string, faults?: string) =>
      OrpheusEmulator.make({ model, capacity: 1, busy: "429", busyHint: "remaining", serviceTime, seed, faults })
    const base = yield* orpheus("base", plan.serviceTime.base)
    const bridge = yield* orpheus("bridge", plan.serviceTime.other, `seed=${seed}; ${plan.bridgeFaults}`)
    const loops = yield* orpheus("loops", plan.serviceTime.other)
    return {
      orpheus: { base, bridge, loops },
      urls: { base: base.url, bridge: bridge.url, loops: loops.url }
    } satisfies Servers
  })

/**
 * The heartbeat's upstream, whose storm is timed from now: start it just
 * before its first probe.
 *
 * @since 0.1.0
 * @category Demo
 */
export const upstream = (timing: Timing, jobs: number, seed: number) => {
  const { storm } = schedule(timing, jobs)
  return OllamaEmulator.make({ seed, faults: `status=503@${ms(storm.from)}-${ms(storm.to)}` })
}
