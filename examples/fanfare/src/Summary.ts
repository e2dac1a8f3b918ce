/** The end of a run, as plain lines: each job, then what each GPU did. */
import type { Report } from "./Fanfare.js"

const percent = (ratio: number) => `${(ratio * 100).toFixed(0)} %`

export const lines = (report: Report): ReadonlyArray<string> => {
  const out: Array<string> = []
  const complete = report.jobs.filter((job) => job.status === "complete").length
  out.push(`${complete}/${report.jobs.length} pieces composed in ${(report.elapsedMillis / 1000).toFixed(1)} s`)
  for (const job of report.jobs) {
    const busy = report.busy.byJob.get(job.jobId) ?? 0
    out.push(
      `  ${job.jobId.slice(0, 8)}  ${job.status.padEnd(8)}  attempts ${job.attempts}  GPU busy ${
        String(busy).padStart(2)
      }×  ` +
        (job.result === undefined
          ? `error: ${job.error ?? "-"}`
          : `${job.result.title}: ${job.result.sections.map((s) => `${s.step} ${s.tokens}`).join(", ")} tokens`)
    )
  }
  out.push(`GPU-busy answers waited out: ${report.busy.total}`)
  for (const { model, stats } of report.gpus) {
    out.push(
      `  ${stats.service.padEnd(14)} ${String(stats.requests).padStart(3)} requests, ` +
        `${String(stats.rejections["429"] ?? 0).padStart(3)} × 429, busy ${(stats.busyMillis / 1000).toFixed(1)} s, ` +
        `utilisation ${percent(stats.utilization)}${model === "base" ? " (the bottleneck: two calls a piece)" : ""}`
    )
  }
  return out
}
