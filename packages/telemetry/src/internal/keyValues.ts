/**
 * The `key1=value1,key2=value2` lists of OTEL_RESOURCE_ATTRIBUTES and
 * OTEL_EXPORTER_OTLP_HEADERS: W3C Baggage without the `;` metadata, values
 * percent-decoded. The OpenTelemetry specification says an invalid entry
 * discards the whole variable; here it refuses it, with the reason, so a typo
 * is seen at start-up rather than as a missing attribute on a dashboard.
 */
import * as Either from "effect/Either"

/** An RFC 7230 token: the characters a Baggage key (and an HTTP header name) may use. */
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * Parses the list; `secret` keeps the values (header tokens) out of the
 * reason. Blank entries (`a=1,,b=2`, a trailing comma) are skipped; a later
 * duplicate key wins.
 */
export const parse = (
  text: string,
  options: { readonly secret: boolean }
): Either.Either<Readonly<Record<string, string>>, string> => {
  const result: Record<string, string> = {}
  const entries = text.split(",")
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!.trim()
    if (entry === "") continue
    const shown = options.secret ? `entry ${i + 1}` : `entry ${i + 1} ("${entry}")`
    const eq = entry.indexOf("=")
    if (eq < 0) return Either.left(`${shown} has no "=": expected key=value pairs separated by commas`)
    const key = entry.slice(0, eq).trim()
    if (!token.test(key)) {
      return Either.left(`${shown} has ${key === "" ? "an empty key" : `the key "${key}", which is not a token`}`)
    }
    const decoded = Either.try(() => decodeURIComponent(entry.slice(eq + 1).trim()))
    if (Either.isLeft(decoded)) {
      return Either.left(`${options.secret ? `the value of ${key}` : shown} has a malformed percent-escape`)
    }
    result[key] = decoded.right
  }
  return Either.right(result)
}
