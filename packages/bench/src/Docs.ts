/**
 * docs/benchmarks.md: an intro, then one section per benchmark between
 * `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`. A run replaces the intro and
 * the sections of the benchmarks it ran, and leaves every other section alone.
 */
import * as Machine from "./Machine.js"
import * as Render from "./Render.js"
import * as Simulation from "./Simulation.js"

export const title = "# Benchmarks"

export const markers = (id: string) => ({ open: `<!-- bench:${id} -->`, close: `<!-- /bench:${id} -->` }) as const

/** Replaces the block `id` of `page` with `body`, or appends it when the page has none. */
export const splice = (page: string, id: string, body: string): string => {
  const { close, open } = markers(id)
  const block = `${open}\n${body.trim()}\n${close}`
  const start = page.indexOf(open)
  const end = start === -1 ? -1 : page.indexOf(close, start)
  if (end !== -1) return page.slice(0, start) + block + page.slice(end + close.length)
  return `${page.trimEnd()}\n\n${block}\n`
}

export const intro = (machine: Machine.Machine, date: string): string =>
  [
    "How these numbers are made. All peers of a benchmark run in the same Node process, in the same run,",
    "interleaved: each round takes one sample of every peer, and the order rotates every round, so drift",
    "(CPU frequency, GC pressure, a noisy neighbour) lands on every peer alike. A sample times a batch of N",
    "calls with `process.hrtime.bigint()`; N is calibrated per peer so that one sample takes about 10 ms (each",
    "section says what it used), once before and once after the warm-up rounds, which are thrown away. Each",
    "table gives the median of the per-sample ns/call (with p25–p75) and the ratio of that median to the bare",
    "call of the peer's own group: Effect code to a bare effect, promise code to a bare async function (a",
    "ratio marked `to X` is taken against the bare call X of another group).",
    "Absolute times are a property of the machine; read the ratios.",
    "",
    "A simulation is not timed: it plays a scenario once, in virtual time, deterministically (`storm`), or in",
    "real time against a loopback emulator (`contention`); its section says what each column means, and",
    "`--json` gives the same meanings in `columns`.",
    "",
    "`pnpm bench` first builds with `tsc -b`, then runs the compiled JavaScript, which is what users of the",
    "published packages run. Through a TypeScript loader such as tsx, esbuild's `keepNames` adds an",
    "`Object.defineProperty` to every named closure created per call, which more than doubles the",
    "`built per call` row of `retry`.",
    "",
    `Last run: ${date}, ${Machine.describe(machine)}. Each section names the command and machine that produced it.`,
    "Regenerate one section with `pnpm bench <name> --write-docs`, all of them with `pnpm bench --write-docs`."
  ].join("\n")

export interface Section {
  readonly report: Render.AnyReport
  /** The exact command that produced the report, e.g. `pnpm bench retry`. */
  readonly command: string
  readonly description: string
  readonly date: string
}

/** A simulation's columns, as a list under its table. */
const legend = (report: Render.AnyReport): ReadonlyArray<string> =>
  report.kind === "simulation"
    ? ["", ...Simulation.shown(report.columns).map((column) => `- **${column.label}**: ${column.description}.`)]
    : []

export const section = ({ command, date, description, report }: Section): string =>
  [
    `## ${report.benchmark}: ${report.title}`,
    "",
    description,
    "",
    `\`${command}\` — ${date}, ${Machine.describe(report.machine)}; ${Render.method(report)}.`,
    "",
    Render.markdown(report),
    ...legend(report)
  ].join("\n")

/** The new page: `page` (or a fresh one) with the intro and the given sections replaced. */
export const update = (page: string | undefined, sections: ReadonlyArray<Section>): string => {
  const latest = sections[sections.length - 1]
  let next = page === undefined || page.trim() === "" ? `${title}\n` : page
  if (latest !== undefined) next = splice(next, "intro", intro(latest.report.machine, latest.date))
  for (const entry of sections) next = splice(next, entry.report.benchmark, section(entry))
  return next
}
