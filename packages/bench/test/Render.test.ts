import { describe, expect, it } from "@effect/vitest"
import type { Benchmark, Peer } from "../src/Harness.js"
import * as Harness from "../src/Harness.js"
import type { Machine } from "../src/Machine.js"
import * as Render from "../src/Render.js"

const machine: Machine = { cpu: "Test CPU", cores: 2, node: "v20.0.0", platform: "test/x64" }
const idle = () => Promise.resolve()

const peers: ReadonlyArray<Peer> = [
  { name: "bare effect", group: "effect", bare: true, run: idle },
  { name: "wrapped effect", group: "effect", run: idle },
  { name: "bare fn", group: "promise", bare: true, run: idle },
  { name: "refused effect", group: "open", baseline: "bare effect", run: idle },
  { name: "refused fn", group: "open", baseline: "bare fn", run: idle }
]

const benchmark: Benchmark = { name: "fake", title: "fake peers", description: "", peers }

const report = Harness.summarize(
  benchmark,
  [
    { name: "bare effect", iterations: 10, nsPerCall: [100] },
    { name: "wrapped effect", iterations: 10, nsPerCall: [250] },
    { name: "bare fn", iterations: 10, nsPerCall: [40] },
    { name: "refused effect", iterations: 10, nsPerCall: [500] },
    { name: "refused fn", iterations: 10, nsPerCall: [2000] }
  ],
  { samples: 1, warmupRounds: 0, targetSampleMillis: 1 },
  machine
)

describe("Render", () => {
  it("names the baseline of a ratio taken against another group's bare peer", () => {
    const markdown = Render.markdown(report)
    expect(markdown).toContain("| wrapped effect | effect | 250.0 | 250.0–250.0 | ×2.50 |")
    expect(markdown).toContain("| refused effect | open | 500.0 | 500.0–500.0 | ×5.00 (to bare effect) |")
    expect(markdown).toContain("| refused fn | open | 2,000 | 2,000–2,000 | ×50.0 (to bare fn) |")
  })

  it("gives a bare peer that names another group's bare peer its ratio to that one", () => {
    const named = Harness.summarize(
      {
        ...benchmark,
        peers: peers.map((peer) => peer.name === "bare effect" ? { ...peer, baseline: "bare fn" } : peer)
      },
      report.rows.map(({ iterations, name, nsPerCall }) => ({ name, iterations, nsPerCall: [nsPerCall] })),
      report.settings,
      machine
    )
    const markdown = Render.markdown(named)
    expect(markdown).toContain("| bare effect | effect | 100.0 | 100.0–100.0 | baseline; ×2.50 (to bare fn) |")
    expect(markdown).toContain("| wrapped effect | effect | 250.0 | 250.0–250.0 | ×2.50 |")
  })

  it("aligns the terminal table on the longest cell", () => {
    const lines = Render.table(report).split("\n")
    expect(lines[2]).toBe("peer            group    ns/call (median)      p25–p75              × own bare")
    expect(lines[8]).toBe("refused fn      open                2,000  2,000–2,000      ×50.0 (to bare fn)")
  })
})
