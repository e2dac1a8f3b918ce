/**
 * Plain log lines a person can follow: seconds since start, the level, the
 * message, and the job a line is about (the `client_job_id` every Orpheus
 * call's lines carry, or the workflow step's job).
 */
import { Clock, Effect, Layer, Logger, LogLevel } from "effect"

const text = (message: unknown): string =>
  Array.isArray(message) ? message.map(text).join(" ") : typeof message === "string" ? message : String(message)

const perAttempt = /^\S+ [A-Z]+ attempt \d+ failed: /

/** Replaces the default logger; lines below `minimum` (default INFO) are dropped. */
export const layer = (
  options: { readonly minimum?: LogLevel.LogLevel; readonly write?: (line: string) => void } = {}
) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`))
    const logger = Logger.make(({ annotations, date, logLevel, message }) => {
      const line = text(message)
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
