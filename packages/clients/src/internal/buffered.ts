/**
 * Reading a whole answer inside the attempt, for the clients' non-streaming
 * calls: the attempt timeout then bounds the body too (a body that stalls is
 * an `AttemptTimedOut`, retried, not a wait for the total deadline), and a
 * connection cut mid-body is a transport failure the policy retries like one
 * cut before the headers, not a decode error after the policy has let go.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"

// The statuses a `Response` may not carry a body with.
const nullBodyStatuses: ReadonlySet<number> = new Set([101, 204, 205, 304])

/** `client` with every response's body read to its end before the response is handed on. */
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
            description: `the body was cut: ${error.message}`
          })
        ),
        Effect.map((bytes) =>
          HttpClientResponse.fromWeb(
            response.request,
            new Response(nullBodyStatuses.has(response.status) || bytes.byteLength === 0 ? null : bytes, {
              status: response.status,
              headers: response.headers
            })
          )
        )
      )
    )
  )
