/** Small HTTP helpers of the Ollama client. */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Random from "effect/Random"
import * as Decode from "./decode.js"

/**
 * The answer's body read inside the attempt, so the attempt timeout covers
 * the whole non-streaming answer (the seed's read timeout) and a body cut
 * mid-way is a retryable connection failure, not a decode error later.
 */
export const buffered = (client: HttpClient.HttpClient): HttpClient.HttpClient =>
  HttpClient.transformResponse(
    client,
    Effect.flatMap((response) =>
      response.arrayBuffer.pipe(
        Effect.mapError((error) =>
          new HttpClientError.RequestError({
            request: response.request,
            reason: "Transport",
            cause: error.cause ?? error,
            description: `the body could not be read: ${error.message}`
          })
        ),
        Effect.map((bytes) =>
          HttpClientResponse.fromWeb(
            response.request,
            new Response([101, 204, 205, 304].includes(response.status) ? null : bytes, {
              status: response.status,
              headers: response.headers
            })
          )
        )
      )
    )
  )

/** One line per wrong field: the first issue of each path (an optional field's union adds "Expected undefined"). */
export const describeIssues = (error: ParseResult.ParseError): string => {
  const byPath = new Map<string, string>()
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    const path = issue.path.length === 0 ? "request" : issue.path.join(".")
    if (!byPath.has(path)) byPath.set(path, issue.message)
  }
  return [...byPath].map(([path, message]) => `${path}: ${message}`).join("; ")
}

export const randomId = Effect.map(
  Effect.all([Random.nextIntBetween(0, 0x7fffffff), Random.nextIntBetween(0, 0x7fffffff)]),
  ([a, b]) => `${a.toString(16).padStart(8, "0")}${b.toString(16).padStart(8, "0")}`
)

export const ollamaError = (excerpt: string): string => {
  try {
    const parsed = JSON.parse(excerpt) as unknown
    if (typeof parsed === "object" && parsed !== null && typeof (parsed as { error?: unknown }).error === "string") {
      return (parsed as { error: string }).error
    }
  } catch {
    // not Ollama's JSON: keep the text
  }
  return Decode.excerpt(excerpt)
}
