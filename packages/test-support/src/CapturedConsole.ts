/**
 * A `Console` that keeps what a program writes, stdout and stderr apart, for
 * tests that run a command in the test's own process.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g")

/** Drops ANSI escapes: @effect/cli colours its messages. */
export const plain = (text: string) => text.replace(ansi, "")

/** One call's line: strings as they are, anything else as JSON. */
const render = (args: ReadonlyArray<unknown>) =>
  args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg))).join(" ") + "\n"

export interface Captured {
  readonly console: Console.Console
  /** Everything written to stdout so far, a line per call, without colours. */
  readonly stdout: Effect.Effect<string>
  readonly stderr: Effect.Effect<string>
}

export const make: Effect.Effect<Captured> = Effect.sync(() => {
  let stdout = ""
  let stderr = ""
  const unsafeOut = (...args: ReadonlyArray<unknown>) => void (stdout += render(args))
  const unsafeErr = (...args: ReadonlyArray<unknown>) => void (stderr += render(args))
  const out = (...args: ReadonlyArray<unknown>) => Effect.sync(() => unsafeOut(...args))
  const err = (...args: ReadonlyArray<unknown>) => Effect.sync(() => unsafeErr(...args))
  const nothing = () => Effect.void
  const console: Console.Console = {
    [Console.TypeId]: Console.TypeId,
    assert: nothing,
    clear: Effect.void,
    count: nothing,
    countReset: nothing,
    debug: err,
    dir: out,
    dirxml: out,
    error: err,
    group: nothing,
    groupEnd: Effect.void,
    info: out,
    log: out,
    table: out,
    time: nothing,
    timeEnd: nothing,
    timeLog: nothing,
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
  return {
    console,
    stdout: Effect.sync(() => plain(stdout)),
    stderr: Effect.sync(() => plain(stderr))
  }
})
