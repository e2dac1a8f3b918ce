import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Issues from "../src/Issues.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "issue-runner-issues-"))
const write = (name: string, text: string) => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, text)
  return file
}

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))

const failure = <A, E extends { readonly message: string }, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flip(self).pipe(Effect.map((error) => error.message))

describe("Issues", () => {
  it("the bundled issues are distinct and all in octo-org/hello", () => {
    expect(Issues.bundled.map(Issues.ref)).toEqual([
      "octo-org/hello#1",
      "octo-org/hello#2",
      "octo-org/hello#3",
      "octo-org/hello#4"
    ])
  })

  it.effect("a file of issues is read and checked", () =>
    Effect.gen(function*() {
      const file = write("ok.json", JSON.stringify([{ owner: "a", repo: "b", number: 3, title: "t", body: "" }]))
      expect(yield* Issues.fromFile(file)).toEqual([{ owner: "a", repo: "b", number: 3, title: "t", body: "" }])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("a missing file, bad JSON, an empty list or an issue without its number name the file and the problem", () =>
    Effect.gen(function*() {
      const missing = path.join(dir, "absent.json")
      expect(yield* failure(Issues.fromFile(missing))).toMatch(`cannot read the issues from ${missing}: `)
      const json = write("bad.json", "[{")
      expect(yield* failure(Issues.fromFile(json))).toMatch(`cannot read the issues from ${json}: `)
      const empty = write("empty.json", "[]")
      expect(yield* failure(Issues.fromFile(empty))).toBe(
        `cannot read the issues from ${empty}: expected at least one issue`
      )
      const noNumber = write(
        "no-number.json",
        JSON.stringify([{ owner: "a", repo: "b", number: 1, title: "t", body: "" }, {
          owner: "a",
          repo: "b",
          title: "t"
        }])
      )
      expect(yield* failure(Issues.fromFile(noNumber))).toBe(
        `cannot read the issues from ${noNumber}: [1].number: is missing; [1].body: is missing`
      )
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("load: the file of ISSUE_RUNNER_ISSUES_FILE, else the fallback, else an error naming the variable", () =>
    Effect.gen(function*() {
      const file = write("one.json", JSON.stringify([{ owner: "x", repo: "y", number: 1, title: "t", body: "b" }]))
      expect((yield* Issues.load(undefined).pipe(withEnv({ ISSUE_RUNNER_ISSUES_FILE: file }))).map(Issues.ref))
        .toEqual(["x/y#1"])
      expect(yield* Issues.load(Issues.bundled).pipe(withEnv({}))).toBe(Issues.bundled)
      expect(yield* failure(Issues.load(undefined).pipe(withEnv({})))).toBe(
        "cannot read the issues from $ISSUE_RUNNER_ISSUES_FILE: not set: against a real GitHub, " +
          "name a JSON file of the issues to answer"
      )
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
