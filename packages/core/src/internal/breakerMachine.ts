/**
 * The breaker's state machine as pure functions of (state, event, now): the
 * breaker runs each one inside a single `Ref.modify`, so a decision and the state
 * it leaves behind are one atomic step however many fibers call at once.
 *
 * The state is split by how often each part changes: `counters` and `trackers`
 * on every call, `mode` only on transitions and probes. A call in the closed
 * state so rebuilds two small objects, never the whole state (an object spread
 * of the whole state costs more than the rest of the call).
 */
import type { Tracker } from "./breakerTracker.js"

export type State = "CLOSED" | "OPEN" | "HALF_OPEN" | "ISOLATED"

/** Where the open-duration schedule is, and the delay it chose for the next opening. */
export interface Cursor {
  readonly state: unknown
  readonly next: number
}

export interface Mode {
  readonly state: State
  /** Bumped on every transition: a call admitted under an older one no longer counts. */
  readonly generation: number
  readonly openUntil: number
  /** Openings since the breaker last closed. */
  readonly openings: number
  readonly cursor: Cursor
  readonly probes: number
  readonly probeSuccesses: number
  /** Ids of the isolation handles not yet released. */
  readonly isolations: ReadonlyArray<number>
  readonly nextHandle: number
}

export interface Counters {
  readonly consecutiveFailures: number
  /** Counted failures since the breaker last closed. */
  readonly failureCount: number
  readonly lastFailureTime: number | undefined
  readonly lastSuccessTime: number | undefined
}

export interface Machine {
  readonly mode: Mode
  readonly counters: Counters
  readonly trackers: ReadonlyArray<unknown>
}

export interface Rules {
  readonly trackers: ReadonlyArray<Tracker>
  readonly maxProbes: number
  readonly successThreshold: number
  readonly halfOpenRetryAfterMillis: number
  readonly slowProbeMillis: number
  readonly freshCursor: Cursor
}

export type Reason =
  | "tripped"
  | "open-elapsed"
  | "probe-failed"
  | "probe-slow"
  | "probes-succeeded"
  | "isolated"
  | "released"
  | "reset"

export interface Transition {
  readonly from: State
  readonly to: State
  readonly reason: Reason
  /** For the log line: "failures: 5", "probe failed", "reset". */
  readonly detail: string | undefined
  readonly at: number
  /** The cursor the transition consumed (to OPEN) or dropped (to CLOSED). */
  readonly cursor: Cursor
  /** When the breaker opened: how long for. */
  readonly openMillis: number | undefined
}

export interface Ticket {
  readonly generation: number
  readonly probe: boolean
  readonly start: number
}

export type Admission =
  | { readonly _tag: "Admitted"; readonly ticket: Ticket; readonly transition: Transition | undefined }
  | {
    readonly _tag: "Rejected"
    readonly state: "OPEN" | "HALF_OPEN" | "ISOLATED"
    readonly retryAfterMillis: number | undefined
  }

export type Outcome = "success" | "failure" | "ignored"

const counters = (
  consecutiveFailures: number,
  failureCount: number,
  lastFailureTime: number | undefined,
  lastSuccessTime: number | undefined
): Counters => ({ consecutiveFailures, failureCount, lastFailureTime, lastSuccessTime })

const closedMode = (rules: Rules, generation: number, nextHandle: number): Mode => ({
  state: "CLOSED",
  generation,
  openUntil: 0,
  openings: 0,
  cursor: rules.freshCursor,
  probes: 0,
  probeSuccesses: 0,
  isolations: [],
  nextHandle
})

export const initial = (rules: Rules): Machine => ({
  mode: closedMode(rules, 0, 0),
  counters: counters(0, 0, undefined, undefined),
  trackers: rules.trackers.map((tracker) => tracker.initial)
})

const transition = (
  mode: Mode,
  to: State,
  reason: Reason,
  now: number,
  detail?: string,
  openMillis?: number
): Transition => ({ from: mode.state, to, reason, detail, at: now, cursor: mode.cursor, openMillis })

/** A clean closed breaker; the last failure and success times are kept. */
const closed = (rules: Rules, machine: Machine, last: Counters): Machine => ({
  mode: closedMode(rules, machine.mode.generation + 1, machine.mode.nextHandle),
  counters: counters(0, 0, last.lastFailureTime, last.lastSuccessTime),
  trackers: rules.trackers.map((tracker) => tracker.initial)
})

const open = (
  machine: Machine,
  counted: Counters,
  trackers: ReadonlyArray<unknown>,
  reason: Reason,
  now: number,
  detail: string | undefined
): readonly [Transition, Machine] => {
  const mode = machine.mode
  return [
    transition(mode, "OPEN", reason, now, detail, mode.cursor.next),
    {
      mode: {
        ...mode,
        state: "OPEN",
        generation: mode.generation + 1,
        openUntil: now + mode.cursor.next,
        openings: mode.openings + 1,
        probes: 0,
        probeSuccesses: 0
      },
      counters: counted,
      trackers
    }
  ]
}

const withMode = (machine: Machine, mode: Mode): Machine => ({
  mode,
  counters: machine.counters,
  trackers: machine.trackers
})

export const admit = (rules: Rules, machine: Machine, now: number): readonly [Admission, Machine] => {
  const mode = machine.mode
  switch (mode.state) {
    case "CLOSED":
      return [{
        _tag: "Admitted",
        ticket: { generation: mode.generation, probe: false, start: now },
        transition: undefined
      }, machine]
    case "OPEN": {
      if (now < mode.openUntil) {
        return [{ _tag: "Rejected", state: "OPEN", retryAfterMillis: mode.openUntil - now }, machine]
      }
      const generation = mode.generation + 1
      return [{
        _tag: "Admitted",
        ticket: { generation, probe: true, start: now },
        transition: transition(mode, "HALF_OPEN", "open-elapsed", now)
      }, withMode(machine, { ...mode, state: "HALF_OPEN", generation, probes: 1, probeSuccesses: 0 })]
    }
    case "HALF_OPEN": {
      if (mode.probes >= rules.maxProbes) {
        return [{ _tag: "Rejected", state: "HALF_OPEN", retryAfterMillis: rules.halfOpenRetryAfterMillis }, machine]
      }
      return [{
        _tag: "Admitted",
        ticket: { generation: mode.generation, probe: true, start: now },
        transition: undefined
      }, withMode(machine, { ...mode, probes: mode.probes + 1 })]
    }
    case "ISOLATED":
      return [{ _tag: "Rejected", state: "ISOLATED", retryAfterMillis: undefined }, machine]
  }
}

export const complete = (
  rules: Rules,
  machine: Machine,
  ticket: Ticket,
  outcome: Outcome,
  now: number
): readonly [Transition | undefined, Machine] => {
  const mode = machine.mode
  const current = ticket.generation === mode.generation
  if (outcome === "ignored") {
    // Not a verdict on the service, but a probe gives its place back.
    return current && ticket.probe
      ? [undefined, withMode(machine, { ...mode, probes: mode.probes - 1 })]
      : [undefined, machine]
  }
  const failed = outcome === "failure"
  const before = machine.counters
  const lastFailureTime = failed ? now : before.lastFailureTime
  const lastSuccessTime = failed ? before.lastSuccessTime : now
  if (!current) {
    return [undefined, {
      mode,
      counters: counters(before.consecutiveFailures, before.failureCount, lastFailureTime, lastSuccessTime),
      trackers: machine.trackers
    }]
  }
  const counted = counters(
    failed ? before.consecutiveFailures + 1 : 0,
    failed ? before.failureCount + 1 : before.failureCount,
    lastFailureTime,
    lastSuccessTime
  )
  if (mode.state === "CLOSED") {
    const millis = now - ticket.start
    const trackers: Array<unknown> = []
    let reason: string | undefined
    for (let i = 0; i < rules.trackers.length; i++) {
      const tracker = rules.trackers[i]!
      const state = tracker.record(machine.trackers[i], failed, millis, now)
      trackers.push(state)
      reason ??= tracker.tripped(state, now)
    }
    return reason === undefined
      ? [undefined, { mode, counters: counted, trackers }]
      : open(machine, counted, trackers, "tripped", now, reason)
  }
  // HALF_OPEN: only probes hold a current ticket.
  if (failed) return open(machine, counted, machine.trackers, "probe-failed", now, "probe failed")
  if (now - ticket.start > rules.slowProbeMillis) {
    const slow = counters(before.consecutiveFailures, before.failureCount, lastFailureTime, lastSuccessTime)
    return open(machine, slow, machine.trackers, "probe-slow", now, "probe too slow")
  }
  const successes = mode.probeSuccesses + 1
  if (successes >= rules.successThreshold) {
    return [transition(mode, "CLOSED", "probes-succeeded", now), closed(rules, machine, counted)]
  }
  return [undefined, {
    mode: { ...mode, probes: mode.probes - 1, probeSuccesses: successes },
    counters: counted,
    trackers: machine.trackers
  }]
}

export const isolate = (
  machine: Machine,
  now: number
): readonly [readonly [number, Transition | undefined], Machine] => {
  const mode = machine.mode
  const handle = mode.nextHandle
  const already = mode.state === "ISOLATED"
  const next = withMode(machine, {
    ...mode,
    state: "ISOLATED",
    generation: already ? mode.generation : mode.generation + 1,
    isolations: [...mode.isolations, handle],
    nextHandle: handle + 1,
    probes: 0,
    probeSuccesses: 0
  })
  return [[handle, already ? undefined : transition(mode, "ISOLATED", "isolated", now, "isolated")], next]
}

/** Releasing a handle twice, or after a reset, does nothing. */
export const release = (
  rules: Rules,
  machine: Machine,
  handle: number,
  now: number
): readonly [Transition | undefined, Machine] => {
  const mode = machine.mode
  if (!mode.isolations.includes(handle)) return [undefined, machine]
  const isolations = mode.isolations.filter((id) => id !== handle)
  if (isolations.length > 0) return [undefined, withMode(machine, { ...mode, isolations })]
  return [transition(mode, "CLOSED", "released", now, "released"), closed(rules, machine, machine.counters)]
}

export const reset = (rules: Rules, machine: Machine, now: number): readonly [Transition | undefined, Machine] => [
  machine.mode.state === "CLOSED" ? undefined : transition(machine.mode, "CLOSED", "reset", now, "reset"),
  closed(rules, machine, machine.counters)
]
