/**
 * Plain log lines a person can follow: seconds since start, the level, the
 * message, and the job a line is about (the `client_job_id` every Orpheus
 * call's lines carry, or the workflow step's job). A line logged with a
 * cause (`Effect.logError(cause)`, as a failed main's is) ends with what
 * went wrong, one error after another, without stack traces.
 */
import { Cause, Clock, Effect, Layer, Logger, LogLevel } from "effect"

const text = (message: unknown): string =>
  Array.isArray(message) ? message.map(text).join(" ") : typeof message === "string" ? message : String(message)

/** `InvalidPolicy: …; Error: …`: each failure and defect by its name and message. */
export const causeText = (cause: Cause.Cause<unknown>): string =>
  Cause.prettyErrors(cause).map((error) => `${error.name}: ${error.message}`).join("; ")

const perAttempt = /^\S+ [A-Z]+ attempt \d+ failed: /

/** Replaces the default logger; lines below `minimum` (default INFO) are dropped. */
export const layer = (
  options: { readonly minimum?: LogLevel.LogLevel; readonly write?: (line: string) => void } = {}
) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`))
    const logger = Logger.make(({ annotations, cause, date, logLevel, message }) => {
      const said = text(message)
      const why = Cause.isEmpty(cause) ? "" : causeText(cause)
      const line = said === "" ? why : why === "" ? said : `${said}: ${why}`
      // The HTTP layer's line for each failed attempt says what the retry's line says next.
      if (perAttempt.test(line)) return
      const seconds = ((date.getTime() - start) / 1000).toFixed(2).padStart(7)
      const job = annotations.pipe((map) => {
        for (const [key, value] of map) if (key === "client_job_id") return ` [job ${String(value).slice(0, 8)}]`
        return ""
      })
      write(`${seconds}s ${logLevel.label.padEnd(5)}${job} ${line}`)
    })
    return Layer.merge(
      Logger.replace(Logger.defaultLogger, logger),
      Logger.minimumLogLevel(options.minimum ?? LogLevel.Info)
    )
  }))
