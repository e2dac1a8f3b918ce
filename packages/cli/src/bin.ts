/**
 * The `bulwark` process: runs `Cli.main` on the command line and exits with
 * its code. `bin/bulwark.js` loads the compiled form of this file;
 * `pnpm --filter @bulwark/cli start …` runs it from source.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cli from "./Cli.js"

Cli.main(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    // `Cli.main` reports every failure itself, in one line.
    disableErrorReporting: true,
    teardown: (exit, onExit) =>
      onExit(
        Exit.isSuccess(exit)
          ? Number(exit.value)
          : Cause.isInterruptedOnly(exit.cause)
          ? Cli.interruptedExitCode(process.argv)
          : Cli.ExitCode.failed
      )
  })
)
