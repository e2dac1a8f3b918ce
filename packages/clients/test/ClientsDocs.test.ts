import { expectOnlyRegions } from "@bulwark/test-support/DocRegions"
import { describe, it } from "@effect/vitest"

describe("docs/clients.md", () => {
  // Each client's docs test checks its own regions; this checks no block escaped them.
  it("has no code block that is not a region of a test", () => expectOnlyRegions("clients.md", __filename))
})
