import { expect } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const dedent = (text: string) => {
  const lines = text.split("\n")
  const indent = Math.min(...lines.filter((line) => line.trim() !== "").map((line) => line.search(/\S/)))
  return lines.map((line) => line.slice(indent)).join("\n")
}

/**
 * Checks that every ```ts block of `docs/<page>` is, to the letter, a
 * `// #region name` … `// #endregion` of `testFile`, announced in the page by
 * `<!-- region: name -->`, and that every region appears in the page: the page
 * shows only code that the tests run.
 */
export const expectDocRegions = (page: string, testFile: string) => {
  const doc = fs.readFileSync(path.join(__dirname, "../../../../docs", page), "utf8")
  const source = fs.readFileSync(testFile, "utf8")
  const regions = new Map<string, string>()
  for (const [, name, body] of source.matchAll(/\/\/ #region (\S+)\n([\s\S]*?)\n\s*\/\/ #endregion/g)) {
    regions.set(name!, dedent(body!))
  }
  const blocks = [...doc.matchAll(/<!-- region: (\S+) -->\n```ts\n([\s\S]*?)\n```/g)]
  expect(blocks.map(([, name]) => name).sort()).toEqual([...regions.keys()].sort())
  for (const [, name, body] of blocks) expect(body, `region ${name}`).toBe(regions.get(name!))
  expect(doc.match(/```ts\n/g)?.length).toBe(blocks.length)
}
