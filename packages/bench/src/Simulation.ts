/**
 * The second kind of benchmark: not a timing but a simulation, whose rows are
 * counts and durations of a scenario, played once: in virtual time
 * (deterministic, the same on every machine), or in real time over loopback
 * against an emulator (when the peers are real clients with real timers). Its rows carry no `nsPerCall` or `ratioToBare`: each simulation
 * declares its own fields, and its report lists them with their meaning
 * (`columns`), so the JSON documents itself.
 */
import type { Machine } from "./Machine.js"

/** One value of a simulation row. `null` where a figure does not apply. */
export type Cell = string | number | boolean | null

/** One peer's outcome: its name, then the fields the simulation's columns name. */
export interface SimulationRow {
  readonly name: string
  readonly [field: string]: Cell
}

/** How a number is shown in the tables (the JSON keeps the number as computed). */
export type Format = "integer" | "ratio" | "percent" | "millis" | "text"

/** A field of the rows, shown in the tables in the order the simulation lists them. */
export interface Column {
  readonly key: string
  /** The table header. */
  readonly label: string
  /** What the field means, with its unit; in the JSON. */
  readonly description: string
  readonly format: Format
  /** In the JSON only, not in the tables. */
  readonly hidden?: boolean | undefined
}

/** The columns the tables show. */
export const shown = (columns: ReadonlyArray<Column>): ReadonlyArray<Column> =>
  columns.filter((column) => column.hidden !== true)

/** The simulation's own pass / fail judgement over its rows, e.g. an amplification bound. */
export interface Check {
  readonly ok: boolean
  readonly text: string
}

export interface Simulation {
  readonly kind: "simulation"
  /** What `pnpm bench <name>` selects; also the docs section id. */
  readonly name: string
  readonly title: string
  /** A paragraph for the docs: the scenario, the peers and their settings. */
  readonly description: string
  readonly columns: ReadonlyArray<Column>
  /** Which clock the scenario runs on. Default `"virtual"`. */
  readonly clock?: "virtual" | "real" | undefined
  /** Plays the scenario for every peer; resolves to one row per peer. */
  readonly run: () => Promise<ReadonlyArray<SimulationRow>>
  readonly verdict?: ((rows: ReadonlyArray<SimulationRow>) => Check) | undefined
}

/** What `--json` prints for one simulation. */
export interface SimulationReport {
  readonly kind: "simulation"
  readonly benchmark: string
  readonly title: string
  readonly columns: ReadonlyArray<Column>
  readonly clock: "virtual" | "real"
  readonly rows: ReadonlyArray<SimulationRow>
  readonly verdict?: Check
  readonly machine: Machine
}

/** Throws unless names are unique and every row has every column. */
export const validate = (simulation: Simulation, rows: ReadonlyArray<SimulationRow>): void => {
  const names = new Set<string>()
  for (const row of rows) {
    if (names.has(row.name)) throw new Error(`${simulation.name}: two rows are named "${row.name}"`)
    names.add(row.name)
    for (const column of simulation.columns) {
      if (!(column.key in row)) throw new Error(`${simulation.name}: row "${row.name}" has no "${column.key}"`)
    }
  }
}

/** Runs the simulation once and judges it. */
export const simulate = async (simulation: Simulation, machine: Machine): Promise<SimulationReport> => {
  const rows = await simulation.run()
  validate(simulation, rows)
  const report: SimulationReport = {
    kind: "simulation",
    benchmark: simulation.name,
    title: simulation.title,
    columns: simulation.columns,
    clock: simulation.clock ?? "virtual",
    rows,
    machine
  }
  return simulation.verdict === undefined ? report : { ...report, verdict: simulation.verdict(rows) }
}

/** A cell as the tables show it. */
export const formatCell = (value: Cell | undefined, format: Format): string => {
  if (value === null || value === undefined) return "–"
  if (typeof value !== "number") return String(value)
  switch (format) {
    case "integer":
      return Math.round(value).toLocaleString("en-US")
    case "ratio":
      return `×${value.toFixed(2)}`
    case "percent":
      return `${(value * 100).toFixed(1)} %`
    case "millis":
      return `${Math.round(value).toLocaleString("en-US")} ms`
    case "text":
      return String(value)
  }
}
