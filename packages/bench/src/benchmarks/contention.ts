/**
 * Contention for one GPU (seed 000): many clients, one Orpheus model server of
 * capacity 1 that answers "GPU busy" (429 + Retry-After) to every request that
 * finds it working. What matters is how much of the GPU's time each client
 * strategy turns into finished work, and how many calls it wastes on 429s.
 *
 * Played in real time over loopback against the Orpheus emulator, one fresh
 * emulator per peer.
 */
import type * as Policy from "@bulwark/core/Policy"
import * as OrpheusEmulator from "@bulwark/emulators/OrpheusEmulator"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { ExponentialBackoff, handleAll, retry } from "cockatiel"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Scope from "effect/Scope"
import { setMaxListeners } from "node:events"
import pRetry from "p-retry"
import { quantile } from "../Harness.js"
import type { Check, Column, Simulation, SimulationRow } from "../Simulation.js"

/** The load and the GPU. */
export interface Scenario {
  readonly clients: number
  /** Requests each client submits, one after the other. */
  readonly requestsPerClient: number
  /** The GPU's time per request, fixed. */
  readonly serviceMillis: number
  /** Requests the GPU serves at once. */
  readonly capacity: number
  /** A peer still busy after this long is stopped; its unfinished requests count as failed. */
  readonly horizonMillis: number
  /**
   * What a busy answer's hints say: `remaining` — the time until the GPU
   * frees, in `Retry-After` (whole seconds) and `retry-after-ms` (an emulator
   * extension, as a server that knows its queue would answer); or a fixed
   * `Retry-After` of this many seconds, as hootenanny's contract says (30).
   */
  readonly busyHint: "remaining" | { readonly retryAfterSeconds: number }
}

export const scenario: Scenario = {
  clients: 50,
  requestsPerClient: 2,
  serviceMillis: 100,
  capacity: 1,
  horizonMillis: 30_000,
  busyHint: "remaining"
}

/** The same load against the real protocol's hint: `Retry-After: 30`, whatever the queue. */
export const fixedHintScenario: Scenario = { ...scenario, busyHint: { retryAfterSeconds: 30 } }

/** Sends one generate request and resolves to whether it completed. */
type Submit = (signal: AbortSignal) => Promise<boolean>

interface ContentionPeer {
  readonly name: string
  /** Builds the strategy's shared state for one run against the emulator at `url`. */
  readonly make: (url: string) => Submit
}

const body = JSON.stringify({ task: "generate", max_tokens: 64, temperature: 1, top_p: 0.95, num_variations: 1 })

const generate = (url: string, signal: AbortSignal) =>
  fetch(`${url}/predict`, { method: "POST", body, headers: { "content-type": "application/json" }, signal })

class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`)
  }
}

const sleep = (millis: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, millis)
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true })
  })

/** Seed 000: on 429, sleep Retry-After seconds (5 when absent) once, then give up. */
const seedApproach: ContentionPeer = {
  name: "seed 000: sleep Retry-After once",
  make: (url) => async (signal) => {
    for (let attempt = 1; attempt <= 2; attempt++) {
      const response = await generate(url, signal)
      await response.arrayBuffer()
      if (response.ok) return true
      if (response.status !== 429 || attempt === 2) return false
      const seconds = Number.parseInt(response.headers.get("retry-after") ?? "", 10)
      await sleep((Number.isFinite(seconds) ? seconds : 5) * 1000, signal)
    }
    return false
  }
}

/** p-retry with its defaults: 10 retries, 1 s doubling, no jitter, no server hints. */
const pRetryDefaults: ContentionPeer = {
  name: "p-retry defaults",
  make: (url) => (signal) =>
    pRetry(async () => {
      const response = await generate(url, signal)
      await response.arrayBuffer()
      if (!response.ok) throw new HttpStatusError(response.status)
      return true
    }, { signal }).catch(() => false)
}

/** cockatiel: retry every failure with `ExponentialBackoff` (128 ms, ×2, decorrelated jitter, 30 s cap), 10 attempts. */
const cockatielExponential: ContentionPeer = {
  name: "cockatiel exponential",
  make: (url) => {
    const policy = retry(handleAll, { maxAttempts: 9, backoff: new ExponentialBackoff() })
    return (signal) =>
      policy.execute(async ({ signal }) => {
        const response = await generate(url, signal)
        await response.arrayBuffer()
        if (!response.ok) throw new HttpStatusError(response.status)
        return true
      }, signal).catch(() => false)
  }
}

const bulwark = (name: string, policy: Omit<Policy.Options, "service">): ContentionPeer => ({
  name,
  make: (url) => {
    const client = Effect.runSync(
      ResilientClient.make({ service: "orpheus", policy }).pipe(Effect.provide(FetchHttpClient.layer))
    )
    const request = HttpClientRequest.post(`${url}/predict`).pipe(
      HttpClientRequest.bodyText(body, "application/json")
    )
    const send = client.execute(request).pipe(
      Effect.flatMap((response) => response.arrayBuffer),
      Effect.as(true),
      Effect.orElseSucceed(() => false),
      Logger.withMinimumLogLevel(LogLevel.None)
    )
    return (signal) => Effect.runPromise(send, { signal }).catch(() => false)
  }
})

/** Retry as a user would set it for a busy GPU: 429s are free retries that wait what the server says. */
const retryOptions = {
  maxAttempts: 5,
  base: "100 millis",
  maxDelay: "5 seconds",
  retryAfter: "floor",
  rateLimitedAttempts: "free",
  maxRateLimited: 1000
} as const

const onlyRetry: Omit<Policy.Options, "service"> = { retry: retryOptions }

const limiterAndGate: Omit<Policy.Options, "service"> = {
  retry: retryOptions,
  retryAfterGate: { maxWait: "1 minute" },
  adaptiveLimiter: { initialLimit: 1, increment: 0.05, maxQueue: 1000 }
}

/** A user who knows the GPU's capacity: a local queue in front of it, so it is never asked while busy. */
const bulkhead: Omit<Policy.Options, "service"> = {
  retry: retryOptions,
  bulkhead: { maxConcurrent: scenario.capacity, maxQueue: 1000 }
}

export const peers: ReadonlyArray<ContentionPeer> = [
  seedApproach,
  pRetryDefaults,
  cockatielExponential,
  bulwark("bulwark retry + Retry-After", onlyRetry),
  bulwark("bulwark + adaptive limiter + gate", limiterAndGate)
]

/** The raw outcome of one run; times in milliseconds from its start. */
export interface Outcome {
  readonly completed: number
  readonly failed: number
  readonly busyMillis: number
  readonly rejected429: number
  readonly makespanMillis: number
  readonly latencies: ReadonlyArray<number>
}

/** Runs one peer against a fresh emulator: every client submits its requests in turn, all clients at once. */
export const play = async (peer: ContentionPeer, scenario: Scenario): Promise<Outcome> => {
  const scope = Effect.runSync(Scope.make())
  try {
    const emulator = await Effect.runPromise(
      OrpheusEmulator.make({
        capacity: scenario.capacity,
        serviceTime: `${scenario.serviceMillis}ms`,
        ...(scenario.busyHint === "remaining"
          ? { busyHint: "remaining" as const }
          : { retryAfterSeconds: scenario.busyHint.retryAfterSeconds })
      }).pipe(Scope.extend(scope), Logger.withMinimumLogLevel(LogLevel.None))
    )
    const submit = peer.make(emulator.url)
    const horizon = new AbortController()
    // every client's sleeps and requests listen to this one signal
    setMaxListeners(0, horizon.signal)
    const timer = setTimeout(() => horizon.abort(), scenario.horizonMillis)
    const start = performance.now()
    let completed = 0
    let last = 0
    const latencies: Array<number> = []
    await Promise.all(Array.from({ length: scenario.clients }, async () => {
      for (let i = 0; i < scenario.requestsPerClient && !horizon.signal.aborted; i++) {
        const submitted = performance.now()
        const ok = await submit(horizon.signal).catch(() => false)
        const now = performance.now()
        if (ok && !horizon.signal.aborted) {
          completed++
          latencies.push(now - submitted)
        }
        last = Math.max(last, now - start)
      }
    }))
    clearTimeout(timer)
    const stats = await Effect.runPromise(emulator.stats)
    return {
      completed,
      failed: scenario.clients * scenario.requestsPerClient - completed,
      busyMillis: stats.busyMillis,
      rejected429: stats.rejections["429"] ?? 0,
      makespanMillis: Math.min(last, scenario.horizonMillis),
      latencies
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const columns: ReadonlyArray<Column> = [
  { key: "completed", label: "completed", description: "requests that got their generation", format: "integer" },
  {
    key: "failed",
    label: "failed",
    description: "requests that gave up, or were still unfinished at the horizon",
    format: "integer"
  },
  {
    key: "utilization",
    label: "GPU utilisation",
    description: "time the GPU spent generating / makespan",
    format: "percent"
  },
  {
    key: "wastedPerSuccess",
    label: "429s per success",
    description: "calls the GPU refused as busy, per completed request (null when none completed)",
    format: "ratio"
  },
  {
    key: "makespanToLimit",
    label: "makespan / limit",
    description: "time until every client was done, over the physical limit: the sum of all service times",
    format: "ratio"
  },
  {
    key: "p99Ms",
    label: "p99 latency",
    description: "99th percentile of a completed request's time from submission to answer, in milliseconds",
    format: "millis"
  }
]

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits

export const row = (name: string, outcome: Outcome, scenario: Scenario): SimulationRow => {
  const limit = scenario.clients * scenario.requestsPerClient * scenario.serviceMillis
  return {
    name,
    completed: outcome.completed,
    failed: outcome.failed,
    utilization: outcome.makespanMillis > 0 ? round(outcome.busyMillis / outcome.makespanMillis) : 0,
    wastedPerSuccess: outcome.completed > 0 ? round(outcome.rejected429 / outcome.completed) : null,
    makespanToLimit: round(outcome.makespanMillis / limit),
    p99Ms: outcome.latencies.length > 0 ? Math.round(quantile(outcome.latencies, 0.99)) : null
  }
}

/** Rows of the second scenario, against the real protocol's fixed hint. */
const fixedHintRuns: ReadonlyArray<{ readonly name: string; readonly peer: ContentionPeer }> = [
  {
    name: "Retry-After 30: bulwark + adaptive limiter + gate",
    peer: bulwark("bulwark + adaptive limiter + gate", limiterAndGate)
  },
  { name: "Retry-After 30: bulwark + bulkhead(1)", peer: bulwark("bulwark + bulkhead(1)", bulkhead) }
]

/** The goal for Bulwark's best configuration. */
export const goal = { utilization: 0.95, wastedPerSuccess: 0.1, makespanToLimit: 1.05 } as const

const meets = (row: SimulationRow) =>
  row.completed === scenario.clients * scenario.requestsPerClient &&
  (row.utilization as number) >= goal.utilization &&
  (row.wastedPerSuccess as number) <= goal.wastedPerSuccess &&
  (row.makespanToLimit as number) <= goal.makespanToLimit

const describeRow = (row: SimulationRow) =>
  `${row.name}: ${row.completed}/${scenario.clients * scenario.requestsPerClient} completed, utilisation ` +
  `${row.utilization}, ${row.wastedPerSuccess} 429s per success, makespan ${row.makespanToLimit}× the limit`

/** Bulwark's best configuration for each hint meets the goal. */
const judge = (rows: ReadonlyArray<SimulationRow>): Check => {
  const best = [
    rows.find((row) => row.name === peers[peers.length - 1]!.name)!,
    rows.find((row) => row.name === fixedHintRuns[fixedHintRuns.length - 1]!.name)!
  ]
  return {
    ok: best.every(meets),
    text: `${
      best.map(describeRow).join("; ")
    } (goal: all complete, utilisation ≥ ${goal.utilization}, ≤ ${goal.wastedPerSuccess} 429s per success, makespan ≤ ${goal.makespanToLimit}× the limit)`
  }
}

export const benchmark: Simulation = {
  kind: "simulation",
  name: "contention",
  title: "50 clients, one GPU: utilisation and wasted calls under \"GPU busy\"",
  description: [
    `${scenario.clients} clients each submit ${scenario.requestsPerClient} generate requests, one after the other, to one`,
    `Orpheus emulator on loopback whose GPU serves ${scenario.capacity} request at a time for exactly`,
    `${scenario.serviceMillis} ms, and answers every request that finds it busy with 429 "GPU busy",`,
    "`Retry-After` (whole seconds, rounded up) and `retry-after-ms`, both the time until the GPU is free.",
    "The physical limit is the sum of the service times,",
    `${
      scenario.clients * scenario.requestsPerClient
    } × ${scenario.serviceMillis} ms. Real time, real sockets, one fresh`,
    `emulator per peer; a peer still busy after ${scenario.horizonMillis / 1000} s is stopped.`,
    "",
    "Peers: the seed's own client (sleep `Retry-After` once, then fail the job); `p-retry` with its defaults",
    "(10 retries, 1 s doubling, no jitter, no hints); cockatiel's `retry(handleAll, { maxAttempts: 9, backoff:",
    "new ExponentialBackoff() })`; Bulwark's `ResilientClient` with only a retry",
    `(\`${JSON.stringify(retryOptions)}\`: 429s are free retries that wait at least what the server says);`,
    "and the same retry with an adaptive limiter (AIMD from 1, +0.05 per success) and the shared",
    "Retry-After gate, so the clients learn the GPU's capacity and queue locally instead of at the GPU.",
    "",
    "The hints of the first rows are an emulator extension (`busyHint: \"remaining\"`): the real Orpheus",
    "contract (hootenanny's design note) answers `Retry-After: 30` whatever the queue. The last two rows",
    "replay the load against that fixed hint. There a client cannot learn the capacity by probing: every",
    "probe that meets a busy GPU costs 30 s for everyone behind the shared gate (the adaptive row). What",
    "works is to say the capacity: a bulkhead of 1 in front of the GPU (`bulkhead: { maxConcurrent: 1 }`)",
    "queues locally and never meets a busy GPU."
  ].join("\n"),
  columns,
  clock: "real",
  run: async () => {
    const rows: Array<SimulationRow> = []
    for (const peer of peers) rows.push(row(peer.name, await play(peer, scenario), scenario))
    for (const run of fixedHintRuns) {
      rows.push(row(run.name, await play(run.peer, fixedHintScenario), fixedHintScenario))
    }
    return rows
  },
  verdict: judge
}
