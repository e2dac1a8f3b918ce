/**
 * The docs show only code that the tests run: every ```ts block of a page
 * under docs/ is announced by `<!-- region: name -->` and is, to the letter,
 * the `// #region name` … `// #endregion` of a test file.
 */
import { expect } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

/** The repository's root: the nearest folder above `from` with a pnpm-workspace.yaml. */
const rootOf = (from: string): string => {
  const parent = path.dirname(from)
  if (fs.existsSync(path.join(parent, "pnpm-workspace.yaml"))) return parent
  if (parent === from) throw new Error(`no pnpm-workspace.yaml above ${from}`)
  return rootOf(parent)
}

const readPage = (page: string, testFile: string) => fs.readFileSync(path.join(rootOf(testFile), "docs", page), "utf8")

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

const blocksOf = (doc: string) => [...doc.matchAll(/<!-- region: (\S+) -->\n```ts\n([\s\S]*?)\n```/g)]

const expectSame = (blocks: ReturnType<typeof blocksOf>, regions: Map<string, string>) => {
  expect(blocks.map(([, name]) => name).sort()).toEqual([...regions.keys()].sort())
  for (const [, name, body] of blocks) expect(body, `region ${name}`).toBe(regions.get(name!))
}

/** Every ```ts block of the page is announced as a region (none is unchecked code). */
export const expectOnlyRegions = (page: string, testFile: string) => {
  const doc = readPage(page, testFile)
  expect(doc.match(/```ts\n/g)?.length ?? 0).toBe(blocksOf(doc).length)
}

/**
 * The page's blocks are exactly the regions of `testFile`, and it has no
 * other ```ts block: a page written by one test file.
 */
export const expectDocRegions = (page: string, testFile: string) => {
  expectSame(blocksOf(readPage(page, testFile)), regionsOf(testFile))
  expectOnlyRegions(page, testFile)
}

/**
 * The page's blocks named by the regions of `testFile` are those regions, and
 * every region is in the page: a page written by several test files (one
 * section each), checked once per file; {@link expectOnlyRegions} checks that
 * the page has no block of no file.
 */
export const expectDocSection = (page: string, testFile: string) => {
  const regions = regionsOf(testFile)
  expectSame(blocksOf(readPage(page, testFile)).filter(([, name]) => regions.has(name!)), regions)
}
