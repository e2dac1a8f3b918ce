import * as Cli from "@bulwark/cli/Cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Console, Effect, Fiber, Ref } from "effect"

const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g")

/** Drops ANSI escapes: the parser's messages are coloured. */
export const plain = (text: string) => text.replace(ansi, "")

export interface Output {
  readonly stdout: Ref.Ref<string>
  readonly stderr: Ref.Ref<string>
}

const render = (args: ReadonlyArray<unknown>) =>
  args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg))).join(" ") + "\n"

/** A Console that keeps what is written, stdout and stderr apart. */
export const capture = Effect.gen(function*() {
  const stdout = yield* Ref.make("")
  const stderr = yield* Ref.make("")
  const out = (...args: ReadonlyArray<unknown>) => Ref.update(stdout, (text) => text + render(args))
  const err = (...args: ReadonlyArray<unknown>) => Ref.update(stderr, (text) => text + render(args))
  const unsafeOut = (...args: ReadonlyArray<unknown>) => Effect.runSync(out(...args))
  const unsafeErr = (...args: ReadonlyArray<unknown>) => Effect.runSync(err(...args))
  const console: Console.Console = {
    [Console.TypeId]: Console.TypeId,
    assert: () => Effect.void,
    clear: Effect.void,
    count: () => Effect.void,
    countReset: () => Effect.void,
    debug: err,
    dir: out,
    dirxml: out,
    error: err,
    group: () => Effect.void,
    groupEnd: Effect.void,
    info: out,
    log: out,
    table: out,
    time: () => Effect.void,
    timeEnd: () => Effect.void,
    timeLog: () => Effect.void,
    trace: err,
    warn: err,
    unsafe: {
      assert: () => {},
      clear: () => {},
      count: () => {},
      countReset: () => {},
      debug: unsafeErr,
      dir: unsafeOut,
      dirxml: unsafeOut,
      error: unsafeErr,
      group: () => {},
      groupCollapsed: () => {},
      groupEnd: () => {},
      info: unsafeOut,
      log: unsafeOut,
      table: unsafeOut,
      time: () => {},
      timeEnd: () => {},
      timeLog: () => {},
      trace: unsafeErr,
      warn: unsafeErr
    }
  }
  return { console, output: { stdout, stderr } satisfies Output }
})

export interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `bulwark <args>` in this process, through `Cli.main`, with its output captured. */
export const runCli = (...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { console, output } = yield* capture
    const code = yield* Cli.main(["node", "bulwark", ...args]).pipe(
      Effect.withConsole(console),
      Effect.provide(NodeContext.layer)
    )
    return {
      code,
      stdout: plain(yield* Ref.get(output.stdout)),
      stderr: plain(yield* Ref.get(output.stderr))
    } satisfies Result
  })

/**
 * `bulwark <args>` forked, for the commands that serve until interrupted:
 * the fiber and the output so far.
 */
export const forkCli = (...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { console, output } = yield* capture
    const fiber = yield* Cli.main(["node", "bulwark", ...args]).pipe(
      Effect.withConsole(console),
      Effect.provide(NodeContext.layer),
      Effect.forkScoped
    )
    const read = Effect.map(Ref.get(output.stdout), plain)
    /** Waits (polling every 10 ms, at most `seconds`) for stdout to match. */
    const waitFor = (pattern: RegExp, seconds = 5) =>
      Effect.gen(function*() {
        while (true) {
          const text = yield* read
          const match = pattern.exec(text)
          if (match !== null) return match
          const exited = yield* Fiber.poll(fiber)
          if (exited._tag === "Some") {
            return yield* Effect.dieMessage(
              `exited before printing ${pattern}: ${text} ${plain(yield* Ref.get(output.stderr))}`
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
      stdout: read,
      stderr: Effect.map(Ref.get(output.stderr), plain),
      waitFor
    }
  })
