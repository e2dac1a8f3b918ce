import { describe, expect, it } from "@effect/vitest"
import * as Docs from "../src/Docs.js"
import type { Machine } from "../src/Machine.js"
import * as Render from "../src/Render.js"
import type { Column, Simulation, SimulationReport, SimulationRow } from "../src/Simulation.js"
import * as Sim from "../src/Simulation.js"

const machine: Machine = { cpu: "Test CPU", cores: 2, node: "v20.0.0", platform: "test/x64" }

const columns: ReadonlyArray<Column> = [
  { key: "calls", label: "calls", description: "calls made", format: "integer" },
  { key: "amplification", label: "amplification", description: "calls / requests", format: "ratio" },
  { key: "recoveryMs", label: "recovery", description: "time to recover, in ms", format: "millis" },
  { key: "success", label: "success", description: "share of requests that succeeded", format: "percent" },
  { key: "note", label: "note", description: "a remark", format: "text" },
  { key: "requests", label: "requests", description: "requests made", format: "integer", hidden: true }
]

const rows: ReadonlyArray<SimulationRow> = [
  { name: "naive", calls: 6000, amplification: 4, recoveryMs: 0, success: 0.6667, note: "storm", requests: 3000 },
  { name: "budget", calls: 3100, amplification: 1.1, recoveryMs: 1974.4, success: 1, note: null, requests: 3000 }
]

const simulation = (overrides: Partial<Simulation> = {}): Simulation => ({
  kind: "simulation",
  name: "sim",
  title: "a fake simulation",
  description: "What sim plays.",
  columns,
  run: () => Promise.resolve(rows),
  verdict: (rows) => {
    const ok = rows.every((row) => row.name !== "budget" || (row.amplification as number) <= 1.1)
    return { ok, text: `budget within ×1.1 — ${ok ? "OK" : "WORSE"}` }
  },
  ...overrides
})

describe("Simulation", () => {
  describe("simulate", () => {
    it("runs once and reports the rows, the columns and the verdict, without timing fields", async () => {
      const report = await Sim.simulate(simulation(), machine)
      expect(report).toEqual({
        kind: "simulation",
        benchmark: "sim",
        title: "a fake simulation",
        columns,
        clock: "virtual",
        rows,
        machine,
        verdict: { ok: true, text: "budget within ×1.1 — OK" }
      })
      const json = JSON.parse(JSON.stringify(report)) as SimulationReport
      expect(Object.keys(json)).toEqual([
        "kind",
        "benchmark",
        "title",
        "columns",
        "clock",
        "rows",
        "machine",
        "verdict"
      ])
      expect(json.columns[1]).toEqual({
        key: "amplification",
        label: "amplification",
        description: "calls / requests",
        format: "ratio"
      })
      for (const row of json.rows) {
        expect(row).not.toHaveProperty("nsPerCall")
        expect(row).not.toHaveProperty("ratioToBare")
      }
    })

    it("has no verdict when the simulation asks for none", async () => {
      const report = await Sim.simulate(simulation({ verdict: undefined }), machine)
      expect("verdict" in report).toBe(false)
    })

    it("refuses rows with the same name or a missing column", async () => {
      await expect(Sim.simulate(simulation({ run: () => Promise.resolve([rows[0]!, rows[0]!]) }), machine))
        .rejects.toThrow(/two rows are named "naive"/)
      const { calls: _, ...partial } = rows[1]!
      await expect(Sim.simulate(simulation({ run: () => Promise.resolve([partial as SimulationRow]) }), machine))
        .rejects.toThrow(/row "budget" has no "calls"/)
    })
  })

  it("formats each kind of cell", () => {
    expect(Sim.formatCell(12345.6, "integer")).toBe("12,346")
    expect(Sim.formatCell(1.1, "ratio")).toBe("×1.10")
    expect(Sim.formatCell(0.53551, "percent")).toBe("53.6 %")
    expect(Sim.formatCell(7900, "millis")).toBe("7,900 ms")
    expect(Sim.formatCell("x", "text")).toBe("x")
    expect(Sim.formatCell(true, "integer")).toBe("true")
    expect(Sim.formatCell(null, "ratio")).toBe("–")
    expect(Sim.formatCell(undefined, "ratio")).toBe("–")
  })

  describe("rendering", () => {
    const report = async () => Sim.simulate(simulation(), machine)

    it("prints a terminal table with the simulation's shown columns, right-aligned numbers and the verdict", async () => {
      const lines = Render.table(await report()).split("\n")
      expect(lines[0]).toBe("sim — a fake simulation")
      expect(lines[2]).toBe("peer    calls  amplification  recovery  success  note")
      expect(lines[4]).toBe("naive   6,000          ×4.00      0 ms   66.7 %  storm")
      expect(lines[5]).toBe("budget  3,100          ×1.10  1,974 ms  100.0 %  –")
      expect(lines).toContain("verdict: budget within ×1.1 — OK")
      expect(lines.some((line) => line.startsWith("one deterministic run in virtual time"))).toBe(true)
    })

    it("says when the run was in real time, whose numbers depend on the machine", async () => {
      const real = await Sim.simulate({ ...simulation(), clock: "real" }, machine)
      expect(Render.method(real)).toBe(
        "one run in real time (the numbers depend on the machine and vary between runs)"
      )
    })

    it("writes a markdown section with the table, the verdict and what each column means", async () => {
      const section = Docs.section({
        report: await report(),
        command: "pnpm bench sim",
        description: "What sim plays.",
        date: "2025-01-02"
      })
      expect(section).toContain("## sim: a fake simulation\n\nWhat sim plays.\n\n`pnpm bench sim` — 2025-01-02")
      expect(section).toContain("one deterministic run in virtual time (the numbers do not depend on the machine)")
      expect(section).toContain("| peer | calls | amplification | recovery | success | note |")
      expect(section).toContain("| --- | ---: | ---: | ---: | ---: | --- |")
      expect(section).toContain("| budget | 3,100 | ×1.10 | 1,974 ms | 100.0 % | – |")
      expect(section).toContain("**Verdict:** budget within ×1.1 — **OK**")
      expect(section.endsWith("- **note**: a remark.")).toBe(true)
      expect(section).toContain("- **recovery**: time to recover, in ms.")
      expect(section).not.toContain("requests made")
    })
  })
})
