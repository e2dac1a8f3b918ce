/**
 * What the demo knows while it runs, in one mutable place: each job's phase
 * (queued, at its worker's GPU gate, on the GPU, waiting out a GPU-busy
 * answer, re-queued, done), the counters of the summary, the breakers'
 * transitions, and the plain log lines. Fed synchronously by the workers'
 * GPU hooks and by the supervisors' and breakers' event streams; read by the
 * live view and the summary.
 *
 * Private to the package (it lives in internal/); not tagged `@internal`, because the
 * tests type-check against the declarations, which `stripInternal` would strip it from.
 */
import type * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import type * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import type * as Heartbeat from "@bulwark/telemetry/Heartbeat"
import type * as Clock from "effect/Clock"
import type { GpuHooks, Model } from "./demoWorkflow.js"

/**
 * @since 0.1.0
 * @category Demo
 */
export type Phase =
  | "queued"
  | "running"
  | "gate"
  | "gpu"
  | "busy"
  | "retrying"
  | "succeeded"
  | "failed"
  | "cancelled"

/**
 * @since 0.1.0
 * @category Demo
 */
export interface JobView {
  readonly id: string
  /** 1, 2, … in submission order: what every line calls the job. */
  readonly index: number
  phase: Phase
  worker: string | undefined
  model: Model | undefined
  /** Steps completed, in order (by any attempt). */
  readonly steps: Array<string>
  tokens: number
  attempts: number
  busy: number
  requeues: number
  /** While waiting out a busy answer: when the server said the GPU frees (epoch ms). */
  busyUntil: number | undefined
  lastError: string | undefined
}

/**
 * @since 0.1.0
 * @category Demo
 */
export interface Transition extends CircuitBreaker.StateChange {
  /** The breaker's name in the demo: `ollama`, `orpheus-bridge@worker-1`. */
  readonly breaker: string
}

/**
 * What the demo's `/heartbeat` said last, and for how long it was degraded.
 *
 * @since 0.1.0
 * @category Demo
 */
export interface HeartbeatView {
  /** Undefined before the first heartbeat. */
  status: Heartbeat.HeartbeatStatus["status"] | undefined
  /** Each breaker of the registry as the heartbeat shows it: `ollama OPEN, retry in 0.6s`. */
  breakers: ReadonlyArray<string>
  degradedSince: number | undefined
  /** Degraded time so far, the current stretch not included. */
  degradedMillis: number
}

/**
 * @since 0.1.0
 * @category Demo
 */
export interface Monitor {
  readonly startedAt: number
  readonly jobs: Map<string, JobView>
  readonly counters: {
    attempts: number
    busy: number
    requeuesBackoff: number
    requeuesRetryAfter: number
    released: number
    probesOk: number
    probesFailed: number
    probesRefused: number
  }
  readonly transitions: Array<Transition>
  /** The current state of every breaker seen. */
  readonly breakers: Map<string, CircuitBreaker.State>
  /** The last few lines, for the live view. */
  readonly recent: Array<string>
  readonly heartbeat: HeartbeatView
  /** Numbers a job (in the order first seen) and returns its view. */
  readonly register: (id: string) => JobView
  readonly hooks: GpuHooks
  readonly onJobEvent: (worker: string, event: JobSupervisor.JobEvent) => void
  readonly onBreaker: (breaker: string, change: CircuitBreaker.StateChange) => void
  readonly onHeartbeat: (status: Heartbeat.HeartbeatStatus) => void
  readonly line: (text: string) => void
  /** Stops every line from now on (the show is over or interrupted); the counters still count. */
  readonly mute: () => void
  readonly elapsed: () => number
}

const seconds = (millis: number) => `${(Math.max(0, millis) / 1000).toFixed(2)}s`

/** What went wrong, in one short line: a retry's last error rather than the retry's giving up. */
const cause = (error: { readonly tag: string; readonly message: string }) => {
  const last = /; last error: (.*)$/.exec(error.message)?.[1]
  const text = last ?? errorText(error)
  return text.length <= 100 ? text : `${text.slice(0, 99)}…`
}

/**
 * One breaker of a heartbeat, in a few words: `ollama OPEN (3 failures, retry in 0.6s)`.
 *
 * @since 0.1.0
 * @category Demo
 */
export const breakerText = (breaker: Heartbeat.BreakerStatus): string => {
  const details = [
    breaker.consecutiveFailures > 0
      ? `${breaker.consecutiveFailures} failure${breaker.consecutiveFailures === 1 ? "" : "s"}`
      : undefined,
    breaker.secondsUntilRetry === null ? undefined : `retry in ${breaker.secondsUntilRetry.toFixed(1)}s`
  ].filter((detail) => detail !== undefined)
  return `${breaker.service} ${breaker.state}${details.length === 0 ? "" : ` (${details.join(", ")})`}`
}

/**
 * @since 0.1.0
 * @category Demo
 */
export const label = (view: JobView) => `job ${String(view.index).padStart(2, "0")}`

const errorText = (error: { readonly tag: string; readonly message: string }) =>
  error.message.startsWith(error.tag) ? error.message : `${error.tag}: ${error.message}`

/**
 * @param write receives every log line as it happens (plain mode prints them).
 * @since 0.1.0
 * @category Demo
 */
export const make = (clock: Clock.Clock, write: (line: string) => void): Monitor => {
  const now = () => clock.unsafeCurrentTimeMillis()
  const startedAt = now()
  const jobs = new Map<string, JobView>()
  const recent: Array<string> = []
  const counters = {
    attempts: 0,
    busy: 0,
    requeuesBackoff: 0,
    requeuesRetryAfter: 0,
    released: 0,
    probesOk: 0,
    probesFailed: 0,
    probesRefused: 0
  }
  const transitions: Array<Transition> = []
  const breakers = new Map<string, CircuitBreaker.State>()

  const elapsed = () => now() - startedAt
  let muted = false
  const line = (text: string) => {
    if (muted) return
    const stamped = `${seconds(elapsed()).padStart(7)}  ${text}`
    recent.push(stamped)
    if (recent.length > 4) recent.shift()
    write(stamped)
  }
  let nextIndex = 0
  // A worker may report a job before `submit` has returned its id: the first sighting numbers it.
  const ensure = (id: string): JobView => {
    const existing = jobs.get(id)
    if (existing !== undefined) return existing
    const view: JobView = {
      id,
      index: ++nextIndex,
      phase: "queued",
      worker: undefined,
      model: undefined,
      steps: [],
      tokens: 0,
      attempts: 0,
      busy: 0,
      requeues: 0,
      busyUntil: undefined,
      lastError: undefined
    }
    jobs.set(id, view)
    return view
  }
  const withJob = (id: string, f: (view: JobView) => void) => f(ensure(id))

  const hooks: GpuHooks = {
    queued: (id, model) =>
      withJob(id, (view) => {
        view.phase = "gate"
        view.model = model
      }),
    sent: (id, model) =>
      withJob(id, (view) => {
        view.phase = "gpu"
        view.model = model
        view.busyUntil = undefined
      }),
    answered: (id, model, status, hint) =>
      withJob(id, (view) => {
        if (status === 429) {
          view.phase = "busy"
          view.busy++
          counters.busy++
          view.busyUntil = hint === undefined ? undefined : now() + hint
          line(
            `${label(view)} GPU busy at orpheus-${model}: waiting ${
              hint === undefined ? "as Retry-After says" : seconds(hint)
            } (Retry-After; no attempt used)`
          )
        } else if (status >= 500) {
          view.phase = "running"
          line(`${label(view)} orpheus-${model} answered ${status}: the client retries with backoff`)
        } else {
          view.phase = "running"
        }
      })
  }

  const onJobEvent = (worker: string, event: JobSupervisor.JobEvent) =>
    withJob(event.id, (view) => {
      switch (event._tag) {
        case "Started": {
          view.phase = "running"
          view.worker = worker
          view.attempts++
          counters.attempts++
          if (view.attempts === 1 && view.steps.length === 0) line(`${label(view)} started on ${worker}`)
          else {
            line(
              `${label(view)} attempt ${event.attempt} on ${worker}` +
                (view.steps.length > 0 ? `, resuming after ${view.steps.at(-1)} (stored steps are not run again)` : "")
            )
          }
          break
        }
        case "Progress": {
          const progress = event.progress as { readonly step?: unknown; readonly tokens?: unknown } | null
          if (typeof progress?.step === "string" && !view.steps.includes(progress.step)) {
            view.steps.push(progress.step)
            view.tokens += typeof progress.tokens === "number" ? progress.tokens : 0
            line(`${label(view)} ${progress.step} done (${String(progress.tokens)} tokens)`)
          }
          view.phase = "running"
          break
        }
        case "Requeued": {
          view.phase = "retrying"
          view.requeues++
          view.lastError = errorText(event.error)
          if (event.counted) counters.requeuesBackoff++
          else counters.requeuesRetryAfter++
          line(
            `${label(view)} re-queued in ${seconds(event.runAt - now())} ` +
              (event.counted ? `(attempt ${event.attempt} failed: backoff)` : "(Retry-After: attempt not counted)") +
              `: ${cause(event.error)}`
          )
          break
        }
        case "Succeeded": {
          view.phase = "succeeded"
          line(
            `${label(view)} succeeded: ${view.steps.length} sections, ${view.tokens} tokens, ` +
              `${view.attempts} attempt${view.attempts === 1 ? "" : "s"}, GPU busy ${view.busy}×`
          )
          break
        }
        case "Failed": {
          view.phase = "failed"
          view.lastError = errorText(event.error)
          line(`${label(view)} FAILED: ${view.lastError}`)
          break
        }
        case "Cancelled": {
          view.phase = "cancelled"
          break
        }
        case "Released": {
          view.phase = "queued"
          counters.released++
          break
        }
        case "Submitted":
          break
      }
    })

  const onBreaker = (breaker: string, change: CircuitBreaker.StateChange) => {
    transitions.push({ ...change, breaker })
    breakers.set(breaker, change.to)
    line(
      `breaker ${breaker}: ${change.from} -> ${change.to}${change.detail === undefined ? "" : ` (${change.detail})`}`
    )
  }

  const heartbeat: HeartbeatView = { status: undefined, breakers: [], degradedSince: undefined, degradedMillis: 0 }
  const onHeartbeat = (status: Heartbeat.HeartbeatStatus) => {
    heartbeat.breakers = Object.values(status.breakers).map((breaker) => breakerText(breaker))
    const before = heartbeat.status
    heartbeat.status = status.status
    if (status.status === before) return
    if (status.status === "degraded") heartbeat.degradedSince = now()
    else if (heartbeat.degradedSince !== undefined) {
      heartbeat.degradedMillis += now() - heartbeat.degradedSince
      heartbeat.degradedSince = undefined
    }
    // The first answer is news only when it is bad.
    if (before !== undefined || status.status === "degraded") {
      line(`heartbeat ${status.status}: ${heartbeat.breakers.join(", ") || "no breakers"}`)
    }
  }

  return {
    startedAt,
    jobs,
    counters,
    transitions,
    breakers,
    recent,
    register: (id) => ensure(id),
    hooks,
    onJobEvent,
    onBreaker,
    onHeartbeat,
    line,
    mute: () => {
      muted = true
    },
    heartbeat,
    elapsed
  }
}

/**
 * Jobs by what a person wants to know: done, on a GPU, waiting for one, queued, re-queued, failed.
 *
 * @since 0.1.0
 * @category Demo
 */
export const tally = (monitor: Monitor) => {
  const counts = { done: 0, onGpu: 0, waiting: 0, running: 0, queued: 0, retrying: 0, failed: 0 }
  for (const view of monitor.jobs.values()) {
    switch (view.phase) {
      case "succeeded":
        counts.done++
        break
      case "gpu":
        counts.onGpu++
        break
      case "gate":
      case "busy":
        counts.waiting++
        break
      case "running":
        counts.running++
        break
      case "queued":
        counts.queued++
        break
      case "retrying":
        counts.retrying++
        break
      case "failed":
      case "cancelled":
        counts.failed++
        break
    }
  }
  return counts
}
