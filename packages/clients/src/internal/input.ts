/**
 * Building `InvalidInput`, the refusal every client gives before sending: a
 * value rendered for humans (bounded, so a megabyte prompt never reaches a
 * log line), and a Schema's parse error read as the first wrong field.
 */
import * as ParseResult from "effect/ParseResult"
import { InvalidInput } from "../ClientErrors.js"

const maxValue = 80

/** A value as a human reads it, at most 80 characters. */
export const render = (value: unknown): string => {
  let text: string
  if (typeof value === "string") text = JSON.stringify(value)
  else if (value instanceof Uint8Array) text = `${value.length} bytes`
  else if (typeof value === "object" && value !== null) {
    try {
      text = JSON.stringify(value) ?? String(value)
    } catch {
      text = String(value)
    }
  } else text = String(value)
  return text.length <= maxValue ? text : `${text.slice(0, maxValue)}…`
}

/** Where the refusal happened. */
export interface Origin {
  readonly service: string
  readonly operation: string
}

/** An option the client checked itself. */
export const invalid = (origin: Origin, field: string, value: unknown, reason: string): InvalidInput =>
  new InvalidInput({ ...origin, field, value: render(value), reason })

const at = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current = input
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return current
}

/**
 * A Schema's refusal of `input`: the first wrong field (under `prefix`, e.g.
 * `body`), its value, and as reason the parser's message, followed by the
 * other wrong fields, one issue each.
 */
export const fromParseError = (
  origin: Origin,
  input: unknown,
  error: ParseResult.ParseError,
  prefix?: string
): InvalidInput => {
  const byPath = new Map<string, { readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>()
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    const key = issue.path.map(String).join(".")
    if (!byPath.has(key)) byPath.set(key, { path: issue.path, message: issue.message })
  }
  const name = (key: string) => [prefix, key].filter((part) => part !== undefined && part !== "").join(".")
  const [first, ...others] = [...byPath]
  if (first === undefined) return invalid(origin, prefix ?? "input", input, error.message)
  const [key, { message, path }] = first
  const more = others.map(([other, issue]) => `; ${name(other) || "input"}: ${issue.message}`).join("")
  return invalid(origin, name(key) || "input", at(input, path), `${message}${more}`)
}
