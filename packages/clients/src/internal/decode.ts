import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { MalformedResponse } from "../ClientErrors.js"

/** Where a body came from, for the error that says it was malformed. */
export interface Origin {
  readonly service: string
  readonly endpoint: string
}

const maxExcerpt = 512

/** The start of a body, on one line, at most 512 characters. */
export const excerpt = (text: string): string => text.length <= maxExcerpt ? text : `${text.slice(0, maxExcerpt)}…`

const reasonOf = (error: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(error)

/**
 * Decodes an already parsed value (a stream chunk, a JSON body) against
 * `schema`; `raw` is the text it was parsed from, kept for the excerpt.
 */
export const value = <A, I>(schema: Schema.Schema<A, I>, origin: Origin & { readonly status: number }) => {
  const decode = Schema.decodeUnknown(schema)
  return (input: unknown, raw: string): Effect.Effect<A, MalformedResponse> =>
    Effect.mapError(
      decode(input),
      (error) => new MalformedResponse({ ...origin, reason: reasonOf(error), excerpt: excerpt(raw) })
    )
}

/** Parses text as JSON and decodes it against `schema`. */
export const text = <A, I>(schema: Schema.Schema<A, I>, origin: Origin & { readonly status: number }) => {
  const decode = value(schema, origin)
  return (raw: string): Effect.Effect<A, MalformedResponse> =>
    Effect.flatMap(
      Effect.try({
        try: () => JSON.parse(raw) as unknown,
        catch: (error) =>
          new MalformedResponse({
            ...origin,
            reason: `not JSON: ${error instanceof Error ? error.message : String(error)}`,
            excerpt: excerpt(raw)
          })
      }),
      (input) => decode(input, raw)
    )
}

/**
 * Reads a response's body as JSON and decodes it against `schema`: a body
 * that cannot be read, is not JSON (an HTML page, a cut-off answer) or does
 * not match is a {@link MalformedResponse}.
 */
export const json = <A, I>(schema: Schema.Schema<A, I>, origin: Origin) =>
(
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<A, MalformedResponse> =>
  Effect.flatMap(
    Effect.mapError(response.text, (error) =>
      new MalformedResponse({
        ...origin,
        status: response.status,
        reason: `the body could not be read: ${error.message}`,
        excerpt: ""
      })),
    (raw) => text(schema, { ...origin, status: response.status })(raw)
  )
