import * as Cli from "@bulwark/cli/Cli"
import * as CapturedConsole from "@bulwark/test-support/CapturedConsole"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Fiber } from "effect"

export interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `bulwark <args>` in this process, through `Cli.main`, with its output captured. */
export const runCli = (...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { console, stderr, stdout } = yield* CapturedConsole.make
    const code = yield* Cli.main(["node", "bulwark", ...args]).pipe(
      Effect.withConsole(console),
      Effect.provide(NodeContext.layer)
    )
    return { code, stdout: yield* stdout, stderr: yield* stderr } satisfies Result
  })

/**
 * `bulwark <args>` forked, for the commands that serve until interrupted:
 * the fiber and the output so far.
 */
export const forkCli = (...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { console, stderr, stdout } = yield* CapturedConsole.make
    const fiber = yield* Cli.main(["node", "bulwark", ...args]).pipe(
      Effect.withConsole(console),
      Effect.provide(NodeContext.layer),
      Effect.forkScoped
    )
    /** Waits (polling every 10 ms, at most `seconds`) for stdout to match. */
    const waitFor = (pattern: RegExp, seconds = 5) =>
      Effect.gen(function*() {
        while (true) {
          const text = yield* stdout
          const match = pattern.exec(text)
          if (match !== null) return match
          const exited = yield* Fiber.poll(fiber)
          if (exited._tag === "Some") {
            return yield* Effect.dieMessage(
              `exited before printing ${pattern}: ${text} ${yield* stderr}`
            )
          }
          yield* Effect.sleep("10 millis")
        }
      }).pipe(
        Effect.timeoutFail({
          duration: `${seconds} seconds`,
          onTimeout: () => new Error(`no output matching ${pattern} within ${seconds}s`)
        })
      )
    return {
      fiber,
      stdout,
      stderr,
      waitFor
    }
  })
