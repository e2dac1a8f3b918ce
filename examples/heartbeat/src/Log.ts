/**
 * One line per event, as the seeds print them (`ERROR Circuit breaker for openai:
 * CLOSED -> OPEN (failures: 5)`), so the breaker's story reads top to bottom.
 * The per-attempt lines of the HTTP client and its retry (annotated with a
 * `request_id`) repeat what the load generator's line says; they show with
 * `verbose`. A breaker's transition happens inside a request too (so it has a
 * `request_id`), but it is the story: it always shows (it is annotated `to`).
 */
import { HashMap, Logger } from "effect"

export const layer = (options: { readonly verbose: boolean }) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ annotations, date, logLevel, message }) => {
      const attempt = HashMap.has(annotations, "request_id") && !HashMap.has(annotations, "to")
      if (attempt && !options.verbose) return
      const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
      process.stdout.write(`${date.toISOString().slice(11, 23)} ${logLevel.label.padEnd(5)} ${text}\n`)
    })
  )
