/**
 * What koderz prints: a line per problem, a line per model, and at the end
 * the summary table and the seed's failure summary ("⚠ 2 model(s) failed:
 * • codellama:70b: …"). Pure functions from results to text, so the tests
 * read the same lines a person does.
 *
 * @since 0.1.0
 */
import type { ModelReport, ProblemResult } from "./Outcome.js"
import { counts, kindLabel } from "./Outcome.js"

const seconds = (millis: number) => `${(millis / 1000).toFixed(2)}s`

const pad = (text: string, width: number) => text.padEnd(width)
const padStart = (text: string | number, width: number) => String(text).padStart(width)

const tally = (items: ReadonlyArray<string>) => {
  const seen = new Map<string, number>()
  for (const item of items) seen.set(item, (seen.get(item) ?? 0) + 1)
  return [...seen].map(([item, n]) => n === 1 ? item : `${item} ×${n}`).join(", ")
}

/**
 * One problem: `✓` passed, `✗` answered but failed the check, `!` no answer.
 *
 * @since 0.1.0
 * @category Lines
 */
export const problemLine = (result: ProblemResult): string => {
  const head = `  ${result._tag === "Passed" ? "✓" : result._tag === "Failed" ? "✗" : "!"} ${
    pad(`${result.problem.id} ${result.problem.entryPoint}`, 22)
  } ${padStart(seconds(result.millis), 7)}`
  const retried = result.retried.length === 0
    ? ""
    : `  ${result.attempts} attempts (retried after ${tally(result.retried)})`
  switch (result._tag) {
    case "Passed":
      return `${head}${retried}`
    case "Failed":
      return `${head}  answer failed the check${retried}`
    case "Errored":
      return `${head}  ${kindLabel[result.kind]} after ${result.attempts} attempt(s): ${result.message}`
  }
}

/**
 * The line under a model's problems.
 *
 * @since 0.1.0
 * @category Lines
 */
export const modelLine = (report: ModelReport): string => {
  const c = counts(report)
  const refused = [
    report.busy > 0 ? `503 ×${report.busy}` : "",
    report.timeouts > 0 ? `timeout ×${report.timeouts}` : ""
  ]
    .filter((part) => part !== "")
  const wire = `${report.requests} request(s), ${c.retries} retried${
    refused.length === 0 ? "" : `; ${refused.join(", ")}`
  }`
  const skipped = report.skipped === undefined
    ? ""
    : `\n  ⤼ skipped ${report.model} after ${kindLabel[report.skipped.kind]}: ${report.notRun} problem(s) not run`
  return `  = ${report.model}: ${c.passed} passed, ${c.failed} failed, ${c.errored} error(s) in ${
    seconds(report.millis)
  } — ${wire}${skipped}`
}

/**
 * The models that failed: skipped after an error their retries could not fix.
 *
 * @since 0.1.0
 * @category Summary
 */
export const failedModels = (reports: ReadonlyArray<ModelReport>): ReadonlyArray<ModelReport> =>
  reports.filter((report) => report.skipped !== undefined)

/**
 * The seed's exit semantics: a run that went through is 0 even with wrong
 * answers (that is what a benchmark measures); a model that failed — not
 * found, retries exhausted — makes it 1, after the summary.
 *
 * @since 0.1.0
 * @category Summary
 */
export const exitCode = (reports: ReadonlyArray<ModelReport>): 0 | 1 => failedModels(reports).length > 0 ? 1 : 0

/**
 * The table and the failure summary.
 *
 * @since 0.1.0
 * @category Summary
 */
export const summary = (reports: ReadonlyArray<ModelReport>): ReadonlyArray<string> => {
  const width = Math.max(5, ...reports.map((report) => report.model.length))
  const columns = ["passed", "failed", "errors", "not run", "requests", "retries"]
  const lines = [
    "Summary",
    `  ${pad("model", width)}${columns.map((column) => padStart(column, 9)).join("")}  errors by kind`
  ]
  for (const report of reports) {
    const c = counts(report)
    const kinds = Object.entries(c.errors).map(([kind, n]) => `${kindLabel[kind as keyof typeof kindLabel]} ×${n}`)
      .join(", ")
    const cells = [c.passed, c.failed, c.errored, c.notRun, report.requests, c.retries]
    lines.push(`  ${pad(report.model, width)}${cells.map((cell) => padStart(cell, 9)).join("")}  ${kinds || "—"}`)
  }
  const failed = failedModels(reports)
  lines.push("")
  if (failed.length === 0) {
    lines.push(`✓ ${reports.length} model(s) ran every problem`)
  } else {
    lines.push(`⚠ ${failed.length} model(s) failed:`)
    for (const { model, skipped } of failed) {
      if (skipped !== undefined) lines.push(`  • ${model}: ${kindLabel[skipped.kind]} — ${skipped.message}`)
    }
  }
  return lines
}
