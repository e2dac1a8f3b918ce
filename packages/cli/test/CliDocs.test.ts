import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"

// #region store-url
import { StoreUrl } from "@bulwark/cli"

const parsed = StoreUrl.parse("sqlite:///var/lib/worker/jobs.db")
// Either.right({ _tag: "Sqlite", filename: "/var/lib/worker/jobs.db" })
const refused = StoreUrl.parse("postgres://app:secret@db/jobs")
// Either.left(UnsupportedStore): "PostgreSQL stores are not supported yet (postgres://app:***@db/jobs); …"
// #endregion

describe("docs/cli.md", () => {
  it("shows only code that the tests run", () => expectDocRegions("cli.md", __filename))

  it("store URLs parse as the page says", () => {
    expect(parsed).toEqual(Either.right({ _tag: "Sqlite", filename: "/var/lib/worker/jobs.db" }))
    expect(Either.isLeft(refused) && refused.left._tag).toBe("UnsupportedStore")
    expect(Either.isLeft(refused) && refused.left.message).toContain("(postgres://app:***@db/jobs)")
  })
})
