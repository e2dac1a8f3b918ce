import * as ConfigErrors from "@bulwark/core/ConfigErrors"
import * as ConfigError from "effect/ConfigError"

/**
 * One line that says what went wrong, from a typed error (its `message`,
 * else its tag) and the errors it wraps (a `ServeError`'s cause says which
 * port was in use): never a stack trace.
 *
 * @internal
 */
export const describe = (error: unknown, depth = 0): string => {
  if (typeof error !== "object" || error === null) return String(error)
  // Its own message leaves out the variable's name (it is in the path).
  if (ConfigError.isConfigError(error)) return `invalid environment variable ${ConfigErrors.describe(error)}`
  const record = error as { readonly message?: unknown; readonly _tag?: unknown; readonly cause?: unknown }
  const message = typeof record.message === "string" && record.message.trim() !== ""
    ? record.message.trim()
    : record._tag === "ServeError"
    ? "cannot listen"
    : typeof record._tag === "string"
    ? record._tag
    : String(error)
  if (depth >= 3 || record.cause === undefined || record.cause === null) return message
  const cause = describe(record.cause, depth + 1)
  return message.includes(cause) ? message : `${message}: ${cause}`
}
