import type * as Console from "effect/Console"

const escape = String.fromCharCode(27)
const ansi = new RegExp(`${escape}\\[[0-9;]*[A-Za-z]`, "g")

/**
 * `text` without ANSI escapes.
 *
 * @internal
 */
export const strip = (text: string): string => text.replace(ansi, "")

const plain = (args: ReadonlyArray<unknown>) => args.map((arg) => (typeof arg === "string" ? strip(arg) : arg))

/**
 * `console` with the ANSI escapes taken out of what it writes to stdout
 * (`log`, `info`, `dirxml`) when `stdout` is false, and to stderr (`error`,
 * `warn`, `debug`, `trace`) when `stderr` is false. @effect/cli colours its
 * help and its parse errors whatever the output is, and has no setting to
 * stop it: a pipe or a CI log would get the escapes as text.
 *
 * @internal
 */
export const withColours = (
  console: Console.Console,
  colours: { readonly stdout: boolean; readonly stderr: boolean }
): Console.Console => {
  if (colours.stdout && colours.stderr) return console
  const out = <F extends (...args: ReadonlyArray<any>) => any>(f: F, keep: boolean): F =>
    keep ? f : (((...args: ReadonlyArray<unknown>) => f(...plain(args))) as F)
  const { unsafe } = console
  return {
    ...console,
    log: out(console.log, colours.stdout),
    info: out(console.info, colours.stdout),
    dirxml: out(console.dirxml, colours.stdout),
    error: out(console.error, colours.stderr),
    warn: out(console.warn, colours.stderr),
    debug: out(console.debug, colours.stderr),
    trace: out(console.trace, colours.stderr),
    unsafe: {
      ...unsafe,
      log: out(unsafe.log, colours.stdout),
      info: out(unsafe.info, colours.stdout),
      dirxml: out(unsafe.dirxml, colours.stdout),
      error: out(unsafe.error, colours.stderr),
      warn: out(unsafe.warn, colours.stderr),
      debug: out(unsafe.debug, colours.stderr),
      trace: out(unsafe.trace, colours.stderr)
    }
  }
}
