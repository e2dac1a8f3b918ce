import type { Snapshot } from "../CircuitBreaker.js"
import type { Cursor, Machine, Rules } from "./breakerMachine.js"

/**
 * What a snapshot keeps: isolation belongs to handles of the running process, so
 * an isolated breaker is saved as the clean CLOSED one its release would leave.
 */
export const toSnapshot = (
  rules: Rules,
  { counters, mode, trackers }: Machine,
  service: string,
  takenAt: number
): Snapshot => {
  const times = {
    ...(counters.lastFailureTime === undefined ? {} : { lastFailureTime: counters.lastFailureTime }),
    ...(counters.lastSuccessTime === undefined ? {} : { lastSuccessTime: counters.lastSuccessTime })
  }
  if (mode.state === "ISOLATED") {
    return {
      service,
      takenAt,
      state: "CLOSED",
      openings: 0,
      consecutiveFailures: 0,
      failureCount: 0,
      ...times,
      trackers: rules.trackers.map((tracker) => tracker.encode(tracker.initial))
    }
  }
  return {
    service,
    takenAt,
    state: mode.state,
    ...(mode.state === "CLOSED" ? {} : { openUntil: mode.openUntil }),
    openings: mode.openings,
    consecutiveFailures: counters.consecutiveFailures,
    failureCount: counters.failureCount,
    ...times,
    trackers: rules.trackers.map((tracker, i) => tracker.encode(trackers[i]))
  }
}

/**
 * The state a snapshot restores. An OPEN breaker keeps its absolute end time;
 * `cursor` is the open-duration schedule replayed to the step it had reached.
 */
export const hydrate = (rules: Rules, fresh: Machine, snapshot: Snapshot, cursor: Cursor): Machine => {
  const counters = {
    consecutiveFailures: snapshot.consecutiveFailures,
    failureCount: snapshot.failureCount,
    lastFailureTime: snapshot.lastFailureTime,
    lastSuccessTime: snapshot.lastSuccessTime
  }
  if (snapshot.state === "CLOSED") {
    return {
      mode: { ...fresh.mode, cursor },
      counters,
      trackers: rules.trackers.map((tracker, i) => {
        const saved = snapshot.trackers[i]
        return saved === undefined ? tracker.initial : tracker.decode(saved) ?? tracker.initial
      })
    }
  }
  // A probe in flight died with the old process: the next call probes again.
  const openUntil = snapshot.state === "HALF_OPEN"
    ? Math.min(snapshot.openUntil ?? snapshot.takenAt, snapshot.takenAt)
    : snapshot.openUntil ?? snapshot.takenAt
  return {
    mode: { ...fresh.mode, state: "OPEN", openUntil, openings: Math.max(1, snapshot.openings), cursor },
    counters,
    trackers: fresh.trackers
  }
}
