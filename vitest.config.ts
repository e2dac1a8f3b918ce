import { defineConfig } from "vitest/config"

// Projects are listed in vitest.workspace.ts; this file holds what applies to the whole run.
export default defineConfig({
  test: {
    reporters: ["default", "./vitest.summary.ts"]
  }
})
