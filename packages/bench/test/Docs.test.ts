import { describe, expect, it } from "@effect/vitest"
import * as Docs from "../src/Docs.js"
import type { Report } from "../src/Harness.js"

const report = (benchmark: string): Report => ({
  kind: "timing",
  benchmark,
  title: `${benchmark} title`,
  rows: [
    {
      name: "bare",
      group: "default",
      bare: true,
      baseline: "bare",
      nsPerCall: 100,
      p25: 90,
      p75: 110,
      ratioToBare: 1,
      ratioTo: { bare: 1 },
      samples: 3,
      iterations: 10
    },
    {
      name: "wrapped",
      group: "default",
      bare: false,
      baseline: "bare",
      nsPerCall: 250,
      p25: 240,
      p75: 1260,
      ratioToBare: 2.5,
      ratioTo: { bare: 2.5 },
      samples: 3,
      iterations: 10
    }
  ],
  settings: { samples: 3, warmupRounds: 1, targetSampleMillis: 10 },
  machine: { cpu: "Test CPU", cores: 2, node: "v20.0.0", platform: "test/x64" }
})

const section = (benchmark: string, command = `pnpm bench ${benchmark}`): Docs.Section => ({
  report: report(benchmark),
  command,
  description: `What ${benchmark} measures.`,
  date: "2025-01-02"
})

describe("Docs", () => {
  describe("splice", () => {
    it("appends a block the page does not have", () => {
      expect(Docs.splice("# T\n", "a", "body")).toBe("# T\n\n<!-- bench:a -->\nbody\n<!-- /bench:a -->\n")
    })

    it("replaces only the block it names", () => {
      const page =
        "# T\n\n<!-- bench:a -->\nold a\n<!-- /bench:a -->\n\n<!-- bench:b -->\nold b\n<!-- /bench:b -->\ntail\n"
      expect(Docs.splice(page, "a", "new a")).toBe(
        "# T\n\n<!-- bench:a -->\nnew a\n<!-- /bench:a -->\n\n<!-- bench:b -->\nold b\n<!-- /bench:b -->\ntail\n"
      )
    })

    it("does not take a prefix for the name", () => {
      const page = "<!-- bench:retry-anatomy -->\nx\n<!-- /bench:retry-anatomy -->\n"
      expect(Docs.splice(page, "retry", "y")).toContain("<!-- bench:retry-anatomy -->\nx\n")
    })
  })

  describe("update", () => {
    it("writes a fresh page: title, intro with the machine, then the section with its command and table", () => {
      const page = Docs.update(undefined, [section("retry")])
      expect(page.startsWith("# Benchmarks\n\n<!-- bench:intro -->\n")).toBe(true)
      expect(page).toContain("Test CPU, 2 cores, Node v20.0.0, test/x64")
      expect(page).toContain(
        "<!-- bench:retry -->\n## retry: retry title\n\nWhat retry measures.\n\n`pnpm bench retry`"
      )
      expect(page).toContain("| peer | group | ns/call (median) | p25–p75 | × own bare |")
      expect(page).toContain("| wrapped | default | 250.0 | 240.0–1,260 | ×2.50 |")
      expect(page.trimEnd().endsWith("<!-- /bench:retry -->")).toBe(true)
    })

    it("keeps the sections of benchmarks that did not run", () => {
      const first = Docs.update(undefined, [section("retry"), section("other")])
      const second = Docs.update(first, [section("retry", "pnpm bench retry --quick")])
      expect(second).toContain("`pnpm bench retry --quick`")
      expect(second).not.toContain("`pnpm bench retry` ")
      expect(second).toContain("<!-- bench:other -->\n## other: other title")
      expect(second.indexOf("bench:retry")).toBeLessThan(second.indexOf("bench:other"))
      expect(Docs.update(second, [section("retry", "pnpm bench retry --quick")])).toBe(second)
    })
  })
})
