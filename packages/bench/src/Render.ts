/**
 * A report as text: an aligned table for the terminal, a markdown table for the docs.
 * Timing reports and simulation reports each have their own columns.
 */
import type { Report, Row } from "./Harness.js"
import { formatRatio } from "./Harness.js"
import * as Machine from "./Machine.js"
import type { SimulationReport } from "./Simulation.js"
import { formatCell, shown } from "./Simulation.js"

/** Whatever a benchmark of either kind reports. */
export type AnyReport = Report | SimulationReport

const formatNanos = (nanos: number): string =>
  nanos < 10 ? nanos.toFixed(2) : nanos < 1000 ? nanos.toFixed(1) : Math.round(nanos).toLocaleString("en-US")

const header = ["peer", "group", "ns/call (median)", "p25–p75", "× own bare"] as const

/** The ratio, naming its baseline when that is not the bare peer of the row's own group. */
const ratioCell = (row: Row, rows: ReadonlyArray<Row>): string => {
  if (row.bare) {
    return row.baseline === row.name
      ? `${formatRatio(1)} (baseline)`
      : `baseline; ${formatRatio(row.ratioToBare)} (to ${row.baseline})`
  }
  const baseline = rows.find((candidate) => candidate.name === row.baseline)
  return baseline === undefined || baseline.group === row.group
    ? formatRatio(row.ratioToBare)
    : `${formatRatio(row.ratioToBare)} (to ${row.baseline})`
}

const cells = (row: Row, rows: ReadonlyArray<Row>): ReadonlyArray<string> => [
  row.name,
  row.group,
  formatNanos(row.nsPerCall),
  `${formatNanos(row.p25)}–${formatNanos(row.p75)}`,
  ratioCell(row, rows)
]

/** Which columns hold numbers, so are right-aligned. */
const numeric = [false, false, true, true, true] as const

/** A report's header, its rows as cells, and which columns are right-aligned. */
interface Grid {
  readonly header: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
  readonly numeric: ReadonlyArray<boolean>
}

const grid = (report: AnyReport): Grid => {
  if (report.kind !== "simulation") return { header, rows: report.rows.map((row) => cells(row, report.rows)), numeric }
  const columns = shown(report.columns)
  return {
    header: ["peer", ...columns.map((column) => column.label)],
    rows: report.rows.map((row) => [row.name, ...columns.map((column) => formatCell(row[column.key], column.format))]),
    numeric: [false, ...columns.map((column) => column.format !== "text")]
  }
}

/** How the samples were taken (or that none were), in one line. */
export const method = (report: AnyReport): string => {
  if (report.kind === "simulation") {
    return report.clock === "virtual"
      ? "one deterministic run in virtual time (the numbers do not depend on the machine)"
      : "one run in real time (the numbers depend on the machine and vary between runs)"
  }
  const { samples, targetSampleMillis, warmupRounds } = report.settings
  return `${samples} interleaved samples of ~${targetSampleMillis} ms per peer after ${warmupRounds} warm-up rounds`
}

export const verdictLine = (report: AnyReport): string | undefined =>
  report.verdict === undefined ? undefined : `verdict: ${report.verdict.text}`

/** The terminal table. */
export const table = (report: AnyReport): string => {
  const { header, numeric, rows } = grid(report)
  const lines = [header, ...rows]
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
    ...rows.map(render),
    "",
    ...(verdict === undefined ? [] : [verdict]),
    `${method(report)}; ${Machine.describe(report.machine)}`,
    ""
  ].join("\n")
}

/** The markdown table, verdict included. */
export const markdown = (report: AnyReport): string => {
  const { header, numeric, rows } = grid(report)
  const verdict = report.verdict === undefined
    ? []
    : ["", `**Verdict:** ${report.verdict.text.replace(/— (OK|WORSE)$/, "— **$1**")}`]
  return [
    `| ${header.join(" | ")} |`,
    `| ${numeric.map((right) => right ? "---:" : "---").join(" | ")} |`,
    ...rows.map((cells) => `| ${cells.map((cell) => cell.replace(/\|/g, "\\|")).join(" | ")} |`),
    ...verdict
  ].join("\n")
}
