/**
 * Log lines as a person reads them, after the seed's
 * `WARNING: Attempt 1/4 failed for generate: ReadTimeout (300s). Retrying in 2.0s...`:
 * the level, the model and problem the line is about, the message. The
 * retry warnings come from the Ollama client's policy.
 *
 * Under the policy, the HTTP layer logs each failed attempt and the final
 * give-up again (lines with a `request_id` but no `policy` annotation):
 * the same facts as the policy's `[Attempt n/N]` line, so they are kept
 * for `LOG_LEVEL=DEBUG` (as the seed's "enable debug logging to see full
 * details") and left out otherwise.
 *
 * @since 0.1.0
 */
import { FiberRef, FiberRefs, HashMap, Logger, LogLevel, Option } from "effect"

/**
 * One log line, without its newline.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const format = (options: Logger.Logger.Options<unknown>): string => {
  const annotation = (key: string) =>
    HashMap.get(options.annotations, key).pipe(Option.map(String), Option.getOrUndefined)
  const where = [annotation("model"), annotation("task")].filter((part) => part !== undefined).join(" ")
  const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
  return `${options.logLevel.label.padEnd(5)} ${where === "" ? "" : `[${where}] `}${message}`
}

/**
 * {@link format} to stderr, so stdout keeps only the results.
 *
 * @since 0.1.0
 * @category Loggers
 */
export const logger: Logger.Logger<unknown, void> = Logger.make((options) => {
  if (isRepeat(options) && !debugging(options)) return
  process.stderr.write(`${format(options)}\n`)
})

/** Whether the fiber logs at DEBUG (`LOG_LEVEL=DEBUG`). */
const debugging = (options: Logger.Logger.Options<unknown>) =>
  LogLevel.lessThanEqual(FiberRefs.getOrDefault(options.context, FiberRef.currentMinimumLogLevel), LogLevel.Debug)

/**
 * Whether the line repeats what the retry policy says: the HTTP layer's own
 * line about one attempt or the give-up.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const isRepeat = (options: Logger.Logger.Options<unknown>): boolean =>
  HashMap.has(options.annotations, "request_id") && !HashMap.has(options.annotations, "policy")
