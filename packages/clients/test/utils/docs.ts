import { expect } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const dedent = (text: string) => {
  const lines = text.split("\n")
  const indent = Math.min(...lines.filter((line) => line.trim() !== "").map((line) => line.search(/\S/)))
  return lines.map((line) => line.slice(indent)).join("\n")
}

const regionsOf = (testFile: string) => {
  const regions = new Map<string, string>()
  const source = fs.readFileSync(testFile, "utf8")
  for (const [, name, body] of source.matchAll(/\/\/ #region (\S+)\n([\s\S]*?)\n\s*\/\/ #endregion/g)) {
    regions.set(name!, dedent(body!))
  }
  return regions
}

/**
 * Checks that the ```ts blocks of `docs/<page>` announced by
 * `<!-- region: name -->` are, to the letter, the `// #region name` …
 * `// #endregion` regions of `testFile`, and that every region of that file
 * appears in the page. A page written by several test files (docs/clients.md,
 * one section per client) is checked once per file; the page's blocks from
 * other files are left to those files' checks.
 */
export const expectDocRegions = (page: string, testFile: string) => {
  const doc = fs.readFileSync(path.join(__dirname, "../../../../docs", page), "utf8")
  const regions = regionsOf(testFile)
  const blocks = [...doc.matchAll(/<!-- region: (\S+) -->\n```ts\n([\s\S]*?)\n```/g)]
    .filter(([, name]) => regions.has(name!))
  expect(blocks.map(([, name]) => name).sort()).toEqual([...regions.keys()].sort())
  for (const [, name, body] of blocks) expect(body, `region ${name}`).toBe(regions.get(name!))
}

/** Every ```ts block of the page is announced as a region (none is unchecked code). */
export const expectOnlyRegions = (page: string) => {
  const doc = fs.readFileSync(path.join(__dirname, "../../../../docs", page), "utf8")
  const announced = [...doc.matchAll(/<!-- region: (\S+) -->\n```ts\n/g)].length
  expect(doc.match(/```ts\n/g)?.length ?? 0).toBe(announced)
}
