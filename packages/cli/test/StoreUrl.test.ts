import * as StoreUrl from "@bulwark/cli/StoreUrl"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempDir } from "./utils/store.js"

const sqlite = (filename: string) => Either.right({ _tag: "Sqlite", filename })
const reason = (text: string) =>
  Either.match(StoreUrl.parse(text), { onLeft: (error) => error.message, onRight: () => "parsed" })

describe("StoreUrl.parse", () => {
  it("sqlite:path, relative or absolute, and the URL form with an empty host", () => {
    expect(StoreUrl.parse(StoreUrl.defaultUrl)).toEqual(sqlite(".bulwark/jobs.db"))
    expect(StoreUrl.parse("sqlite:/var/lib/app/jobs.db")).toEqual(sqlite("/var/lib/app/jobs.db"))
    expect(StoreUrl.parse("sqlite:///var/lib/app/jobs.db")).toEqual(sqlite("/var/lib/app/jobs.db"))
    expect(StoreUrl.parse("SQLITE:///tmp/my%20jobs.db")).toEqual(sqlite("/tmp/my jobs.db"))
    expect(StoreUrl.parse("sqlite:jobs.db")).toEqual(sqlite("jobs.db"))
  })

  it("PostgreSQL: UnsupportedStore, without the password", () => {
    const result = StoreUrl.parse("postgres://app:s3cret@db:5432/jobs")
    expect(result).toEqual(
      Either.left(new StoreUrl.UnsupportedStore({ url: "postgres://app:***@db:5432/jobs", scheme: "PostgreSQL" }))
    )
    expect(reason("postgresql://db/jobs")).toContain("PostgreSQL stores are not supported yet")
    expect(reason("postgres://app:s3cret@")).not.toContain("s3cret")
  })

  it("anything else: InvalidStoreUrl saying what is wrong", () => {
    expect(reason("")).toBe(`invalid store "": it is empty`)
    expect(reason("jobs.db")).toBe(`invalid store "jobs.db": name the kind of store, e.g. sqlite:jobs.db`)
    expect(reason("/abs/jobs.db")).toContain("e.g. sqlite:/abs/jobs.db")
    expect(reason("mysql://db/jobs")).toContain(`unknown kind of store "mysql"`)
    expect(reason("sqlite:")).toContain("the path is missing")
    expect(reason("sqlite:///")).toContain("the path is missing")
    expect(reason("sqlite://host/jobs.db")).toContain(`a SQLite store has no host ("host")`)
    expect(reason("sqlite:///jobs.db?mode=ro")).toContain("no query or fragment")
    expect(reason("sqlite:///%zz")).toContain("percent-encoding")
    expect(reason("sqlite::memory:")).toContain("in-memory")
  })
})

describe("StoreUrl.layerExisting", () => {
  it.scoped("opens an existing store file; a missing one is StoreNotFound and stays missing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "jobs.db")
      const open = (name: string) =>
        Layer.build(StoreUrl.layerExisting({ _tag: "Sqlite", filename: name })).pipe(
          Effect.provide(NodeContext.layer),
          Effect.scoped,
          Effect.either
        )
      expect(yield* open(filename)).toEqual(Either.left(new StoreUrl.StoreNotFound({ filename })))
      expect(fs.existsSync(filename)).toBe(false)
      fs.writeFileSync(filename, "")
      expect(Either.isRight(yield* open(filename))).toBe(true)
    }))
})
