import * as StoreUrl from "@bulwark/cli/StoreUrl"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc, Layer } from "effect"
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

describe("StoreUrl.redact", () => {
  it("masks the password of the user info and password-like query parameters, keeps the rest", () => {
    expect(StoreUrl.redact("mysql://u:s3cret@h/db")).toBe("mysql://u:***@h/db")
    expect(StoreUrl.redact("postgres://app:s3cret@db:5432/jobs?sslmode=require")).toBe(
      "postgres://app:***@db:5432/jobs?sslmode=require"
    )
    // Unencoded "@" and "/" in the password: everything up to the host's "@" goes.
    expect(StoreUrl.redact("postgres://u:p@ss/s3cret@h/db")).toBe("postgres://u:***@h/db")
    expect(StoreUrl.redact("postgres://h/db?user=u&password=s3cret&x=1")).toBe(
      "postgres://h/db?user=u&password=***&x=1"
    )
    expect(StoreUrl.redact("u:s3cret@h/db")).toBe("u:***@h/db")
    expect(StoreUrl.redact("postgres://u@h/db")).toBe("postgres://u@h/db")
    expect(StoreUrl.redact("sqlite:.bulwark/jobs.db")).toBe("sqlite:.bulwark/jobs.db")
    expect(StoreUrl.redact("sqlite:///var/lib/jobs.db")).toBe("sqlite:///var/lib/jobs.db")
  })

  const secret = fc.stringMatching(/^[A-Za-z0-9!$%&*+,.;=~_-]{6,20}$/).map((text) => `S3${text}`)
  const written = fc.constantFrom(
    (pw: string) => `mysql://u:${pw}@h/db`,
    (pw: string) => `postgres://u:${pw}@h/db`,
    (pw: string) => `postgresql://app:${pw}@db:5432/jobs`,
    (pw: string) => `sqlite://u:${pw}@h/jobs.db`,
    (pw: string) => `u:${pw}@h/db`,
    (pw: string) => `//u:${pw}@h/db`,
    (pw: string) => `redis://:${pw}@h`,
    (pw: string) => `postgres://h/db?password=${encodeURIComponent(pw)}`
  )

  it.prop("no refused store URL has its password in the error", [secret, written], ([pw, url]) => {
    const parsed = StoreUrl.parse(url(pw))
    expect(Either.isLeft(parsed)).toBe(true)
    if (Either.isLeft(parsed)) {
      expect(parsed.left.message).not.toContain(pw)
      expect(JSON.stringify(parsed.left)).not.toContain(pw)
    }
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
