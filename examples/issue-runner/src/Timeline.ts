/**
 * The retry timeline of seed 001's example ("T=1s: LLM API call fails (429)
 * … T=1s: Retry LLM call (Attempt 2)"), built from what the layers already
 * say: a `Logger` that keeps the log lines of the retry policies, the
 * Retry-After gates, the breakers and the job supervisor, each with its time
 * since the run began (Effect's Clock) and the issue it belongs to.
 *
 * @since 0.1.0
 */
import { GitHub, GitHubAppToken, Llm } from "@bulwark/clients"
import { Clock, Context, Effect, HashMap, Logger, Option } from "effect"
import * as LogLines from "./internal/logLines.js"

/**
 * The seed's three layers.
 *
 * @since 0.1.0
 * @category Models
 */
export type Level = LogLines.Level

/**
 * @since 0.1.0
 * @category Models
 */
export type Kind = LogLines.Kind

/**
 * One line of the timeline.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Entry {
  /** Milliseconds since {@link Service.begin}. */
  readonly at: number
  readonly level: Level
  readonly kind: Kind
  /** The issue (`owner/repo#n`) whose job the line belongs to, or `-`. */
  readonly subject: string
  readonly text: string
  /** The call retried or given up ("LLM", "token API", "comment"). */
  readonly label?: string | undefined
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** Time zero of the timeline: call it when the jobs are submitted. */
  readonly begin: Effect.Effect<void>
  /** The entries so far, in order. */
  readonly entries: Effect.Effect<ReadonlyArray<Entry>>
  /** Install with `Logger.replace(Logger.defaultLogger, …)` or `Logger.add`. */
  readonly logger: Logger.Logger<unknown, void>
}

/**
 * @since 0.1.0
 * @category Tags
 */
export class Timeline extends Context.Tag("@bulwark/example-issue-runner/Timeline")<Timeline, Service>() {}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Each entry as it is recorded (to print the timeline live). */
  readonly onEntry?: ((entry: Entry) => void) | undefined
  /** Service names (retry policy names) and their role; default the clients' default names. */
  readonly roles?: Readonly<Record<string, LogLines.Role>> | undefined
}

/**
 * The clients' default service names and the layer each belongs to.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaultRoles: Readonly<Record<string, LogLines.Role>> = {
  [Llm.defaults.service]: { level: "request", label: "LLM" },
  [GitHubAppToken.defaults.service]: { level: "request", label: "token API" },
  [GitHub.defaults.service]: { level: "tool", label: "comment" }
}

/** The annotation that marks the runner's own lines. */
const levelKey = "timeline.level"

const text = (message: unknown): string => Array.isArray(message) ? message.map(String).join(" ") : String(message)

const annotation = (annotations: HashMap.HashMap<string, unknown>, key: string): string | undefined =>
  Option.getOrUndefined(Option.map(HashMap.get(annotations, key), String))

/**
 * A timeline, empty, its time zero now until {@link Service.begin} moves it.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service> =>
  Effect.gen(function*() {
    const roles = options.roles ?? defaultRoles
    let start = yield* Clock.currentTimeMillis
    const entries: Array<Entry> = []
    // Lines of the supervisor name only the job; the runner's lines name both.
    const issues = new Map<string, string>()

    const logger = Logger.make<unknown, void>(({ annotations, date, message }) => {
      const line = text(message)
      const own = annotation(annotations, levelKey)
      const reading: LogLines.Reading | undefined = own === "request" || own === "tool" || own === "job"
        ? { level: own, kind: "note", text: line }
        : LogLines.read(line, roles)
      if (reading === undefined) return
      const job = annotation(annotations, "job") ?? annotation(annotations, "client_job_id")
      const issue = annotation(annotations, "issue")
      if (job !== undefined && issue !== undefined) issues.set(job, issue)
      const entry: Entry = {
        at: Math.max(0, date.getTime() - start),
        level: reading.level,
        kind: reading.kind,
        subject: issue ?? (job === undefined ? undefined : issues.get(job)) ?? "-",
        text: reading.text,
        ...(reading.label === undefined ? {} : { label: reading.label })
      }
      entries.push(entry)
      options.onEntry?.(entry)
    })

    return {
      begin: Effect.map(Clock.currentTimeMillis, (now) => {
        start = now
      }),
      entries: Effect.sync(() => [...entries]),
      logger
    } satisfies Service
  })

/**
 * Writes a line of the runner's own (a job started, a reply drafted) into the
 * timeline: a log line marked with its layer.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const note = (level: Level, line: string): Effect.Effect<void> =>
  Effect.logInfo(line).pipe(Effect.annotateLogs(levelKey, level))

/**
 * One entry as the seed wrote its timeline: `T=1.25s  request  octo-org/hello#1  LLM …`.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const format = (entry: Entry): string =>
  `${`T=${(entry.at / 1000).toFixed(2)}s`.padEnd(9)} ${entry.level.padEnd(7)}  ${
    entry.subject.padEnd(16)
  }  ${entry.text}`

/**
 * What the timeline adds up to.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Totals {
  /** Retries by call label ("LLM", "token API", "comment"), per layer. */
  readonly retries: Readonly<Record<Level, Readonly<Record<string, number>>>>
  /** Retry policies that gave up, by call label. */
  readonly gaveUp: Readonly<Record<string, number>>
  /** Job re-queues by the supervisor. */
  readonly requeues: number
  /** Jobs that failed for good. */
  readonly failed: number
}

/**
 * Counts the retries of each layer, the policies that gave up, the re-queues
 * and the failed jobs.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const totals = (entries: ReadonlyArray<Entry>): Totals => {
  const retries: Record<Level, Record<string, number>> = { request: {}, tool: {}, job: {} }
  const gaveUp: Record<string, number> = {}
  let requeues = 0
  let failed = 0
  for (const entry of entries) {
    const label = entry.label ?? entry.level
    if (entry.kind === "retry") retries[entry.level][label] = (retries[entry.level][label] ?? 0) + 1
    else if (entry.kind === "gave-up") gaveUp[label] = (gaveUp[label] ?? 0) + 1
    else if (entry.kind === "requeue") requeues++
    else if (entry.kind === "failed") failed++
  }
  return { retries, gaveUp, requeues, failed }
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

/** "18 retries (LLM 17, token API 1)"; "0 retries". */
const counted = (counts: Readonly<Record<string, number>>, one: string, many?: string): string => {
  const parts = Object.entries(counts)
  const total = parts.reduce((sum, [, n]) => sum + n, 0)
  const by = parts.length === 0 ? "" : ` (${parts.map(([label, n]) => `${label} ${n}`).join(", ")})`
  return `${plural(total, one, many)}${by}`
}

/**
 * The timeline as lines: a header, every entry, and the retries of each layer.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const render = (entries: ReadonlyArray<Entry>): ReadonlyArray<string> => {
  const sum = totals(entries)
  return [
    `${"T".padEnd(9)} ${"layer".padEnd(7)}  ${"issue".padEnd(16)}  what happened`,
    ...entries.map(format),
    "",
    ...summary(sum)
  ]
}

/**
 * The retries of each layer in three lines, the seed's diagram from the top.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const summary = (sum: Totals): ReadonlyArray<string> => [
  `job level:     ${plural(sum.requeues, "re-queue")}, ${plural(sum.failed, "job")} failed for good`,
  `tool level:    ${counted(sum.retries.tool, "retry", "retries")}`,
  `request level: ${counted(sum.retries.request, "retry", "retries")}${
    Object.keys(sum.gaveUp).length === 0 ? "" : `, then gave up: ${counted(sum.gaveUp, "call")}`
  }`
]
