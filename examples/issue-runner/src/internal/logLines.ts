/**
 * Reads the log lines Bulwark's layers write (the retry policy's
 * "[Attempt 1/5] … Retrying in 1.0s", the supervisor's "Re-queuing job …",
 * the Retry-After gate, the breaker, the token cache) and says which layer
 * each comes from and what it did, in a few words.
 */
import { GitHubAppToken } from "@bulwark/clients"

/** Which of the seed's layers a line belongs to. */
export type Level = "request" | "tool" | "job"

/** What kind of event a line reports, for the summary. */
export type Kind = "retry" | "gave-up" | "requeue" | "failed" | "note"

/** The role of a service (a retry policy's name) in the runner. */
export interface Role {
  readonly level: Level
  /** How the timeline names the call: "LLM", "token API", "comment". */
  readonly label: string
}

/** What one line says, before it is placed in time and attached to an issue. */
export interface Reading {
  readonly level: Level
  readonly kind: Kind
  readonly text: string
  /** The label of the call retried or given up (the summary counts by it). */
  readonly label?: string | undefined
}

const attempt =
  /^\[Attempt (\d+)(?:\/(\d+))?\] (\S+) failed: (.*)\. (?:Retrying in (\S+)( \(rate limited[^)]*\))?|Giving up: (.+))$/s
const requeue = /^Re-queuing job \S+ \((.+)\) after (.+)$/
const jobFailed = /^Job \S+ failed \(attempt (\d+\/\d+)\): (.*)$/s
const gate = /^Retry-After gate for (\S+) closed for (\S+) \((\w+)\)$/
const breaker = /^Circuit breaker for (\S+): (\w+) -> (\w+)/
const skipped = /^Workflow step (\S+) of job \S+ skipped/

/** "429 RateLimited" from "RateLimited rate limited from llm (HTTP 429): …". */
const failureOf = (error: string): string => {
  const tag = /^(\w+)/.exec(error)?.[1] ?? "failure"
  const status = /\(HTTP (\d{3})\)/.exec(error)?.[1]
  return status === undefined ? tag : `${status} ${tag}`
}

/**
 * The reading of one line, or `undefined` for a line the timeline does not
 * show. `roles` maps service names to their role; a service not in it is
 * shown at the request level under its own name.
 */
export const read = (message: string, roles: Readonly<Record<string, Role>>): Reading | undefined => {
  const roleOf = (service: string): Role => roles[service] ?? { level: "request", label: service }

  const retried = attempt.exec(message)
  if (retried !== null) {
    const [, n, max, service, error, delay, free, reason] = retried
    const role = roleOf(service!)
    const of = max === undefined ? `${n}` : `${n}/${max}`
    return delay !== undefined
      ? {
        level: role.level,
        kind: "retry",
        label: role.label,
        text: `${role.label} attempt ${of} failed: ${failureOf(error!)}, retrying in ${delay}${
          free === undefined ? "" : " (rate limited: attempt not counted)"
        }`
      }
      : {
        level: role.level,
        kind: "gave-up",
        label: role.label,
        text: `${role.label} attempt ${of} failed: ${failureOf(error!)}, giving up (${reason})`
      }
  }

  const requeued = requeue.exec(message)
  if (requeued !== null) {
    return { level: "job", kind: "requeue", text: `re-queued (${requeued[1]}) after ${requeued[2]}` }
  }

  const failed = jobFailed.exec(message)
  if (failed !== null) {
    return { level: "job", kind: "failed", text: `failed for good (attempt ${failed[1]}): ${failed[2]}` }
  }

  const closed = gate.exec(message)
  if (closed !== null) {
    const role = roleOf(closed[1]!)
    return {
      level: role.level,
      kind: "note",
      text: `${role.label} Retry-After gate closed for ${closed[2]} (${closed[3]}): every caller waits`
    }
  }

  const tripped = breaker.exec(message)
  if (tripped !== null) {
    const role = roleOf(tripped[1]!)
    return { level: role.level, kind: "note", text: `${role.label} circuit breaker ${tripped[2]} -> ${tripped[3]}` }
  }

  if (message.startsWith("GitHub installation token minted")) {
    const role = roleOf(GitHubAppToken.defaults.service)
    return { level: role.level, kind: "note", text: `${role.label}: installation token minted` }
  }

  const step = skipped.exec(message)
  if (step !== null) return { level: "job", kind: "note", text: `step ${step[1]} skipped: done by an earlier attempt` }

  return undefined
}
