#!/usr/bin/env node
/**
 * The `bulwark-emulate` process (see `Cli`).
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Cli from "./Cli.js"

Cli.run(process.argv.slice(2)).pipe(
  Effect.catchAll((error) =>
    Effect.zipRight(
      Console.error(`bulwark-emulate: ${error.message}`),
      Effect.sync(() => (process.exitCode = error._tag === "InvalidArguments" ? 2 : 1))
    )
  ),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
