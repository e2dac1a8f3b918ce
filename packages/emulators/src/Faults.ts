/**
 * The fault timeline language shared by every emulator: one small, seeded
 * spec says what goes wrong and when, so a test or a demo can say
 * "503 for seconds 5-15, then healthy" in one line.
 *
 * ```
 * seed=7; status=503@5s-15s; status=500~0.1; latency=20ms..80ms; reset~0.01@60s-
 * ```
 *
 * Clauses are separated by `;`. Each fault may carry a probability `~p`
 * (default 1) and a window `@from-to` of emulator time, half-open
 * `[from, to)`, with an open end when `to` is left out (default: always).
 *
 * | fault                  | effect on a request                                         |
 * |------------------------|-------------------------------------------------------------|
 * | `status=N`             | answered with status N in the service's own error format    |
 * | `latency=D`            | waits D before answering: `50ms`, `20ms..80ms` (uniform),   |
 * |                        | `exp(100ms)` (exponential, mean), `normal(100ms,20ms)`      |
 * | `reset`                | the connection is destroyed without an answer               |
 * | `slow-body=D`          | headers at once, the body trickled over D                   |
 * | `wrong-content-type`   | a 200 `text/html` page instead of the service's answer      |
 * | `truncated-json`       | the real answer, cut off halfway                            |
 *
 * Durations take `ms`, `s` or `m`. `seed=N` seeds the draws (default 0).
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Seeded from "./internal/seeded.js"

/**
 * How long a fault waits, in milliseconds.
 *
 * @since 0.1.0
 * @category Models
 */
export type Distribution =
  | { readonly _tag: "Fixed"; readonly millis: number }
  | { readonly _tag: "Uniform"; readonly min: number; readonly max: number }
  | { readonly _tag: "Exponential"; readonly mean: number }
  | { readonly _tag: "Normal"; readonly mean: number; readonly deviation: number }

/**
 * @since 0.1.0
 * @category Models
 */
export type Fault =
  | { readonly _tag: "Status"; readonly status: number }
  | { readonly _tag: "Latency"; readonly distribution: Distribution }
  | { readonly _tag: "Reset" }
  | { readonly _tag: "SlowBody"; readonly millis: number }
  | { readonly _tag: "WrongContentType" }
  | { readonly _tag: "TruncatedJson" }

/**
 * One clause: a fault, how often it strikes and during which window
 * `[fromMillis, toMillis)` of emulator time.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Rule {
  readonly fault: Fault
  readonly probability: number
  readonly fromMillis: number
  readonly toMillis: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Timeline {
  readonly seed: number
  readonly rules: ReadonlyArray<Rule>
}

/**
 * What happens to one request.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Decision {
  /** Milliseconds to wait before answering (sum of the latency faults that struck). */
  readonly delayMillis: number
  /** The status to answer with instead of the service's answer. */
  readonly status: number | undefined
  /**
   * Milliseconds until the window of that status ends, when it has an end and
   * the rule strikes every request (probability 1): a fair Retry-After.
   */
  readonly statusEndsInMillis: number | undefined
  readonly reset: boolean
  readonly slowBodyMillis: number
  readonly wrongContentType: boolean
  readonly truncatedJson: boolean
}

/**
 * A fault spec that cannot be read; names the clause and what is wrong with it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidFaultSpec extends Schema.TaggedError<InvalidFaultSpec>()("InvalidFaultSpec", {
  spec: Schema.String,
  clause: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Invalid fault spec clause "${this.clause}": ${this.reason} (spec: "${this.spec}")`
  }
}

/**
 * No faults: the emulator answers as the healthy service does.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const none: Timeline = { seed: 0, rules: [] }

const healthy: Decision = {
  delayMillis: 0,
  status: undefined,
  statusEndsInMillis: undefined,
  reset: false,
  slowBodyMillis: 0,
  wrongContentType: false,
  truncatedJson: false
}

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000 }

/** A non-negative finite duration such as `250ms`, `1.5s`, `2m`. */
const parseDuration = (text: string): number | string => {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text.trim())
  if (match === null) return `"${text.trim()}" is not a duration like 250ms, 1.5s or 2m`
  const millis = Number(match[1]) * units[match[2]!]!
  return Number.isFinite(millis) ? millis : `"${text.trim()}" is too large`
}

/**
 * Reads a distribution of durations as the `latency=` fault writes it:
 * `50ms`, `20ms..80ms`, `exp(100ms)`, `normal(100ms,20ms)`. Emulators use it
 * for their service times too.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const parseDistribution = (text: string): Either.Either<Distribution, string> => {
  const parsed = readDistribution(text)
  return typeof parsed === "string" ? Either.left(parsed) : Either.right(parsed)
}

const readDistribution = (text: string): Distribution | string => {
  const call = /^(exp|normal)\((.*)\)$/.exec(text.trim())
  if (call !== null) {
    const args = call[2]!.split(",").map(parseDuration)
    const bad = args.find((arg) => typeof arg === "string")
    if (bad !== undefined) return bad
    const [first, second] = args as Array<number>
    if (call[1] === "exp") {
      return args.length === 1 ? { _tag: "Exponential", mean: first! } : "exp() takes one duration, the mean"
    }
    return args.length === 2
      ? { _tag: "Normal", mean: first!, deviation: second! }
      : "normal() takes two durations, the mean and the deviation"
  }
  const range = text.split("..")
  if (range.length === 2) {
    const [min, max] = range.map(parseDuration)
    if (typeof min === "string") return min
    if (typeof max === "string") return max
    return min! <= max! ? { _tag: "Uniform", min: min!, max: max! } : `the range ${text.trim()} ends before it starts`
  }
  const fixed = parseDuration(text)
  return typeof fixed === "string" ? fixed : { _tag: "Fixed", millis: fixed }
}

const parseFault = (text: string): Fault | string => {
  const [name, value, ...rest] = text.split("=")
  if (rest.length > 0) return "more than one '='"
  switch (name!.trim()) {
    case "status": {
      const status = Number(value)
      // 1xx, 204 and 304 carry no body: an error answer with one would corrupt the response
      return value !== undefined && /^\s*\d{3}\s*$/.test(value) && status >= 400 && status <= 599
        ? { _tag: "Status", status }
        : `status must be an HTTP error status 400-599, got "${value ?? ""}"`
    }
    case "latency": {
      if (value === undefined) return "latency needs a distribution, as in latency=20ms..80ms"
      const distribution = readDistribution(value)
      return typeof distribution === "string" ? distribution : { _tag: "Latency", distribution }
    }
    case "slow-body": {
      if (value === undefined) return "slow-body needs a duration, as in slow-body=2s"
      const millis = parseDuration(value)
      return typeof millis === "string" ? millis : { _tag: "SlowBody", millis }
    }
    case "reset":
    case "wrong-content-type":
    case "truncated-json":
      if (value !== undefined) return `${name!.trim()} takes no value`
      return {
        _tag: name!.trim() === "reset"
          ? "Reset"
          : name!.trim() === "truncated-json"
          ? "TruncatedJson"
          : "WrongContentType"
      }
    default:
      return `unknown fault "${name!.trim()}" (status, latency, reset, slow-body, wrong-content-type, truncated-json)`
  }
}

const parseRule = (clause: string): Rule | string => {
  const match = /^([^~@]+)((?:[~@][^~@]*)*)$/.exec(clause)
  if (match === null) return "expected fault[~probability][@from-to]"
  const fault = parseFault(match[1]!)
  if (typeof fault === "string") return fault
  let probability = 1
  let fromMillis = 0
  let toMillis = Infinity
  for (const [, mark, value] of match[2]!.matchAll(/([~@])([^~@]*)/g)) {
    if (mark === "~") {
      probability = /^\s*(?:0|1|0?\.\d+|1\.0*)\s*$/.test(value!) ? Number(value) : NaN
      if (Number.isNaN(probability)) return `probability must be a number in [0, 1], got "${value!.trim()}"`
    } else {
      const [from, to, ...extra] = value!.split("-")
      if (extra.length > 0 || to === undefined) return `window must be from-to or from-, got "${value!.trim()}"`
      const start = parseDuration(from!)
      if (typeof start === "string") return start
      const end = to.trim() === "" ? Infinity : parseDuration(to)
      if (typeof end === "string") return end
      if (end <= start) return `the window ${value!.trim()} is empty`
      fromMillis = start
      toMillis = end
    }
  }
  return { fault, probability, fromMillis, toMillis }
}

/**
 * Reads a fault spec; the empty spec is {@link none}.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const parse = (spec: string): Either.Either<Timeline, InvalidFaultSpec> => {
  let seed = 0
  const rules: Array<Rule> = []
  for (const raw of spec.split(";")) {
    const clause = raw.trim()
    if (clause === "") continue
    const refuse = (reason: string) => Either.left(new InvalidFaultSpec({ spec, clause, reason }))
    const seedMatch = /^seed\s*=\s*(.*)$/.exec(clause)
    if (seedMatch !== null) {
      if (!/^\d{1,9}$/.test(seedMatch[1]!)) return refuse(`seed must be a whole number, got "${seedMatch[1]}"`)
      seed = Number(seedMatch[1])
      continue
    }
    const rule = parseRule(clause)
    if (typeof rule === "string") return refuse(rule)
    rules.push(rule)
  }
  return Either.right({ seed, rules })
}

const formatMillis = (millis: number): string => `${millis}ms`

const formatDistribution = (distribution: Distribution): string => {
  switch (distribution._tag) {
    case "Fixed":
      return formatMillis(distribution.millis)
    case "Uniform":
      return `${formatMillis(distribution.min)}..${formatMillis(distribution.max)}`
    case "Exponential":
      return `exp(${formatMillis(distribution.mean)})`
    case "Normal":
      return `normal(${formatMillis(distribution.mean)},${formatMillis(distribution.deviation)})`
  }
}

const formatFault = (fault: Fault): string => {
  switch (fault._tag) {
    case "Status":
      return `status=${fault.status}`
    case "Latency":
      return `latency=${formatDistribution(fault.distribution)}`
    case "SlowBody":
      return `slow-body=${formatMillis(fault.millis)}`
    case "Reset":
      return "reset"
    case "WrongContentType":
      return "wrong-content-type"
    case "TruncatedJson":
      return "truncated-json"
  }
}

/**
 * Writes a timeline back as a spec that {@link parse} reads to the same timeline.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const format = (timeline: Timeline): string =>
  [
    `seed=${timeline.seed}`,
    ...timeline.rules.map((rule) =>
      formatFault(rule.fault) +
      (rule.probability === 1 ? "" : `~${rule.probability}`) +
      (rule.fromMillis === 0 && rule.toMillis === Infinity
        ? ""
        : `@${formatMillis(rule.fromMillis)}-${rule.toMillis === Infinity ? "" : formatMillis(rule.toMillis)}`)
    )
  ].join("; ")

/**
 * One draw from a distribution, in milliseconds, never negative.
 *
 * @since 0.1.0
 * @category Deciding
 */
export const sample = (distribution: Distribution, uniform: () => number): number => {
  switch (distribution._tag) {
    case "Fixed":
      return distribution.millis
    case "Uniform":
      return distribution.min + (distribution.max - distribution.min) * uniform()
    case "Exponential":
      return Seeded.exponential(distribution.mean, uniform())
    case "Normal":
      return Math.max(0, Seeded.normal(distribution.mean, distribution.deviation, uniform(), uniform()))
  }
}

/**
 * What happens to a request that arrives `elapsedMillis` after the emulator
 * started. Every rule whose window holds that instant strikes with its
 * probability (one draw of `uniform` per such rule, in order, then the draws
 * of the latencies that struck): latencies add up, the first status wins.
 * Pure: the same draws give the same decision.
 *
 * @since 0.1.0
 * @category Deciding
 */
export const decide = (timeline: Timeline, elapsedMillis: number, uniform: () => number): Decision => {
  let decision = healthy
  for (const rule of timeline.rules) {
    if (elapsedMillis < rule.fromMillis || elapsedMillis >= rule.toMillis) continue
    if (rule.probability < 1 && uniform() >= rule.probability) continue
    const fault = rule.fault
    switch (fault._tag) {
      case "Status":
        if (decision.status === undefined) {
          decision = {
            ...decision,
            status: fault.status,
            // only a certain outage ends with its window: a 10% error rate over a minute
            // must not tell every client it strikes to wait out the minute
            statusEndsInMillis: rule.toMillis === Infinity || rule.probability < 1
              ? undefined
              : rule.toMillis - elapsedMillis
          }
        }
        break
      case "Latency":
        decision = { ...decision, delayMillis: decision.delayMillis + sample(fault.distribution, uniform) }
        break
      case "SlowBody":
        decision = { ...decision, slowBodyMillis: Math.max(decision.slowBodyMillis, fault.millis) }
        break
      case "Reset":
        decision = { ...decision, reset: true }
        break
      case "WrongContentType":
        decision = { ...decision, wrongContentType: true }
        break
      case "TruncatedJson":
        decision = { ...decision, truncatedJson: true }
        break
    }
  }
  return decision
}
