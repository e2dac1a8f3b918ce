/**
 * Runs the demo: `pnpm --filter @bulwark/example-issue-runner start`.
 *
 * @since 0.1.0
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect, Either } from "effect"
import * as Runner from "./Runner.js"

const main = Runner.demo({ print: (line) => process.stdout.write(`${line}\n`) }).pipe(
  Effect.tap((report) =>
    Effect.sync(() => {
      // exit 1 unless every issue got its comment
      if (report.outcomes.some((outcome) => Either.isLeft(outcome.result))) process.exitCode = 1
    })
  ),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(main)
