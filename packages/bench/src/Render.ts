/**
 * A report as text: an aligned table for the terminal, a markdown table for the docs.
 */
import type { Report, Row } from "./Harness.js"
import { formatRatio } from "./Harness.js"
import * as Machine from "./Machine.js"

const formatNanos = (nanos: number): string =>
  nanos < 10 ? nanos.toFixed(2) : nanos < 1000 ? nanos.toFixed(1) : Math.round(nanos).toLocaleString("en-US")

const header = ["peer", "group", "ns/call (median)", "p25–p75", "× own bare"] as const

const cells = (row: Row): ReadonlyArray<string> => [
  row.name,
  row.group,
  formatNanos(row.nsPerCall),
  `${formatNanos(row.p25)}–${formatNanos(row.p75)}`,
  row.bare ? `${formatRatio(1)} (baseline)` : formatRatio(row.ratioToBare)
]

/** Which columns hold numbers, so are right-aligned. */
const numeric = [false, false, true, true, true] as const

/** How the samples were taken, in one line. */
export const method = (report: Report): string => {
  const { samples, targetSampleMillis, warmupRounds } = report.settings
  return `${samples} interleaved samples of ~${targetSampleMillis} ms per peer after ${warmupRounds} warm-up rounds`
}

export const verdictLine = (report: Report): string | undefined =>
  report.verdict === undefined ? undefined : `verdict: ${report.verdict.text}`

/** The terminal table. */
export const table = (report: Report): string => {
  const lines = [header, ...report.rows.map(cells)]
  const widths = header.map((_, column) => Math.max(...lines.map((line) => line[column]!.length)))
  const render = (line: ReadonlyArray<string>) =>
    line.map((cell, column) => numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))
      .join("  ").trimEnd()
  const verdict = verdictLine(report)
  return [
    `${report.benchmark} — ${report.title}`,
    "",
    render(header),
    render(widths.map((width) => "─".repeat(width))),
    ...report.rows.map((row) => render(cells(row))),
    "",
    ...(verdict === undefined ? [] : [verdict]),
    `${method(report)}; ${Machine.describe(report.machine)}`,
    ""
  ].join("\n")
}

/** The markdown table, verdict included. */
export const markdown = (report: Report): string => {
  const verdict = report.verdict === undefined
    ? []
    : ["", `**Verdict:** ${report.verdict.text.replace(/— (OK|WORSE)$/, "— **$1**")}`]
  return [
    `| ${header.join(" | ")} |`,
    `| ${numeric.map((right) => right ? "---:" : "---").join(" | ")} |`,
    ...report.rows.map((row) => `| ${cells(row).map((cell) => cell.replace(/\|/g, "\\|")).join(" | ")} |`),
    ...verdict
  ].join("\n")
}
