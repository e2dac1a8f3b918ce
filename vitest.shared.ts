import { fileURLToPath } from "node:url"
import { defineProject } from "vitest/config"

const setup = fileURLToPath(new URL("./vitest.setup.ts", import.meta.url))

/**
 * Every project resolves `@bulwark/*` to its TypeScript sources (the `@bulwark/source`
 * export condition), so tests never need a build first.
 */
export const project = (name: string) =>
  defineProject({
    resolve: { conditions: ["@bulwark/source"] },
    ssr: { resolve: { conditions: ["@bulwark/source"] } },
    test: {
      name,
      include: ["test/**/*.test.ts"],
      setupFiles: [setup],
      fakeTimers: { toFake: undefined },
      sequence: { concurrent: true }
    }
  })
