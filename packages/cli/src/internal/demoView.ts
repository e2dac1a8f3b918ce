/**
 * How the demo looks: the live frame a terminal re-renders (through
 * `log-update`, which owns every cursor movement), and the summary table
 * (`cli-table3`) that ends every run, in a terminal or a pipe.
 *
 * Private to the package (it lives in internal/); not tagged `@internal`, because the
 * tests type-check against the declarations, which `stripInternal` would strip it from.
 */
import type * as EmulatorStats from "@bulwark/emulators/EmulatorStats"
import Table from "cli-table3"
import type { DemoSummary } from "../Demo.js"
import type { JobView, Monitor } from "./demoMonitor.js"
import { tally } from "./demoMonitor.js"

const seconds = (millis: number) => `${(Math.max(0, millis) / 1000).toFixed(1)}s`
const percent = (ratio: number) => `${Math.round(ratio * 100)} %`

const mark = (view: JobView, now: number): string => {
  switch (view.phase) {
    case "succeeded":
      return "✔ done"
    case "failed":
      return "✗ failed"
    case "cancelled":
      return "✗ cancelled"
    case "queued":
      return view.attempts === 0 ? "· queued" : "· released"
    case "retrying":
      return "↻ re-queued"
    case "gpu":
      return `◆ on orpheus-${view.model ?? "?"}`
    case "gate":
      return `… waits for ${view.model ?? "a"} GPU`
    case "busy":
      return `⧖ GPU busy${view.busyUntil === undefined ? "" : ` ${seconds(view.busyUntil - now)}`}`
    case "running":
      return "▸ running"
  }
}

const stepsOf = (view: JobView) =>
  ["generate", "continue", "bridge", "loops"].map((step) => (view.steps.includes(step) ? `${step} ✔` : step)).join(" ")

/**
 * @since 0.1.0
 * @category Demo
 */
export interface Header {
  readonly jobs: number
  readonly workers: number
  readonly seed: number
  readonly store: string
  /** Where the demo's `/heartbeat` answers. */
  readonly heartbeat: string
}

/**
 * One frame of the live view.
 *
 * @since 0.1.0
 * @category Demo
 */
export const frame = (
  header: Header,
  monitor: Monitor,
  gpus: ReadonlyArray<{ readonly stats: EmulatorStats.Snapshot; readonly inUse: number }>,
  maxRows = 16
): string => {
  const now = monitor.startedAt + monitor.elapsed()
  const counts = tally(monitor)
  const { counters } = monitor
  // The registry's breakers as /heartbeat shows them, then the workers' own (which no heartbeat sees).
  const seen = (worker: boolean) =>
    [...monitor.breakers].filter(([name]) => name.includes("@") === worker).map(([name, state]) => `${name} ${state}`)
  const registry = monitor.heartbeat.status !== undefined ? monitor.heartbeat.breakers : seen(false)
  const breakers = [...(registry.length === 0 ? ["ollama CLOSED"] : registry), ...seen(true)]
  // One request says nothing of a GPU's use: its busy time over its own span is always 100 %.
  const use = (stats: EmulatorStats.Snapshot) => (stats.requests < 2 ? "—" : percent(stats.utilization))
  const lines = [
    `bulwark demo · ${header.jobs} fanfare jobs · ${header.workers} workers · Orpheus GPUs of capacity 1 · ` +
    `seed ${header.seed} · ${seconds(monitor.elapsed())}`,
    "",
    `jobs      ${counts.done}/${header.jobs} done · ${counts.onGpu} on a GPU · ${counts.waiting} waiting for a GPU · ` +
    `${counts.running} between calls · ${counts.queued} queued · ${counts.retrying} re-queued · ${counts.failed} failed`,
    `retries   GPU busy ${counters.busy}× (waited out, no attempt used) · re-queues ${
      counters.requeuesBackoff + counters.requeuesRetryAfter
    } · attempts ${counters.attempts}`,
    `breakers  ${breakers.join(" · ")} · ${monitor.transitions.length} transitions`,
    `heartbeat ${monitor.heartbeat.status ?? "…"} at ${header.heartbeat}`,
    `GPUs      ${
      gpus.map(({ inUse, stats }) => `${stats.service} ${inUse > 0 ? "● busy" : "○ idle"} ${use(stats)}`)
        .join(" · ")
    }`,
    ""
  ]
  const views = [...monitor.jobs.values()].sort((a, b) => a.index - b.index)
  for (const view of views.slice(0, maxRows)) {
    lines.push(
      `  ${String(view.index).padStart(2, "0")} ${mark(view, now).padEnd(24)} ${stepsOf(view).padEnd(42)} ` +
        `attempts ${view.attempts} · GPU busy ${view.busy}×`
    )
  }
  if (views.length > maxRows) lines.push(`  … and ${views.length - maxRows} more`)
  lines.push("", ...monitor.recent)
  return lines.join("\n")
}

const arrow = (states: ReadonlyArray<string>) => states.join(" → ")

/**
 * The table that ends every run.
 *
 * @since 0.1.0
 * @category Demo
 */
export const summaryTable = (summary: DemoSummary): string => {
  const table = new Table({ style: { head: [], border: [] }, wordWrap: true, colWidths: [26, 72] })
  const failed = summary.failed.length
  const busiest = [...summary.gpus].sort((a, b) => b.busyMillis - a.busyMillis)[0]
  const byBreaker = new Map<string, Array<string>>()
  for (const transition of summary.breakerTransitions) {
    const states = byBreaker.get(transition.breaker) ?? [transition.from]
    states.push(transition.to)
    byBreaker.set(transition.breaker, states)
  }
  table.push(
    ["jobs", `${summary.succeeded} of ${summary.jobs} succeeded${failed === 0 ? "" : `, ${failed} failed`}`],
    [
      "attempts",
      `${summary.attempts} (${summary.jobs} jobs${
        summary.attempts > summary.jobs ? `, ${summary.attempts - summary.jobs} more after a failure or a wait` : ""
      })`
    ],
    [
      "GPU-busy waits",
      `${summary.gpuBusyWaits} × 429 waited out as Retry-After said, no attempt used; ` +
      `${summary.jobsFailedByBusyGpu === 0 ? "none failed a job" : `${summary.jobsFailedByBusyGpu} failed a job`}`
    ],
    [
      "re-queues",
      `${
        summary.requeues.backoff + summary.requeues.retryAfter
      } (${summary.requeues.backoff} after a failed attempt, ` +
      `with backoff; ${summary.requeues.retryAfter} on a Retry-After) — stored steps were not run again`
    ],
    [
      "breaker transitions",
      byBreaker.size === 0
        ? "none"
        // The heartbeat's breaker first, then the workers' own (`name@worker`).
        : [...byBreaker].sort(([a], [b]) => Number(a.includes("@")) - Number(b.includes("@")))
          .map(([breaker, states]) => `${breaker}: ${arrow(states)}`).join("\n")
    ],
    [
      "GPU utilisation",
      summary.gpus.map((gpu) => `${gpu.service} ${percent(gpu.utilization)} (${gpu.requests} requests)`).join("\n")
    ],
    [
      "time vs physical limit",
      busiest === undefined
        ? seconds(summary.elapsedMillis)
        : `${seconds(summary.elapsedMillis)} vs ${seconds(summary.limitMillis)} (×${
          (summary.elapsedMillis / Math.max(1, summary.limitMillis)).toFixed(2)
        }): the sum of the service times of the busiest GPU, ${busiest.service}`
    ],
    [
      "heartbeat",
      `${
        summary.heartbeat.status === "unreachable"
          ? `unreachable (${summary.heartbeat.error ?? "no answer"})`
          : `${summary.heartbeat.status} at the end (${summary.heartbeat.breakers.join(", ") || "no breakers"})`
      }; degraded for ${seconds(summary.heartbeat.degradedMillis)} during the storm — ${summary.heartbeat.url}`
    ],
    ["store", summary.store]
  )
  return table.toString()
}
