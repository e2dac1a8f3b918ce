import * as Errors from "@bulwark/core/Errors"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { MalformedResponse, StreamFailed } from "../ClientErrors.js"
import * as LlmSchema from "../LlmSchema.js"
import * as decode from "./decode.js"
import { said } from "./llmClassify.js"
import * as Sse from "./llmSse.js"

const done = "[DONE]"

/**
 * The decoded chunks of a streamed completion, until `data: [DONE]`. An error
 * event (`event: error`, or a payload with an `error` key) is
 * `StreamFailed`; a body that is not an event stream, a chunk
 * that is not one and a stream that ends without `[DONE]` (cut off) are
 * `MalformedResponse`; a connection lost mid-stream is `ConnectionFailed`.
 * With `idle`, a wait for the next event longer than that (a server that
 * stalled after its headers) is `StreamFailed` too, instead of a hang.
 */
export const chunks = (
  response: HttpClientResponse.HttpClientResponse,
  origin: decode.Origin,
  idle?: Duration.Duration | undefined
): Stream.Stream<
  LlmSchema.ChatCompletionChunk,
  MalformedResponse | StreamFailed | Errors.ConnectionFailed
> => {
  const { status } = response
  const where = { ...origin, status }
  const requestId = response.headers["x-request-id"]
  const contentType = response.headers["content-type"] ?? ""
  if (!/^text\/event-stream\b/i.test(contentType)) {
    return Stream.fromEffect(
      Effect.flatMap(
        Effect.orElseSucceed(response.text, () => ""),
        (text) =>
          new MalformedResponse({
            ...where,
            reason: `expected text/event-stream, got ${contentType === "" ? "no content type" : contentType}`,
            excerpt: decode.excerpt(text)
          })
      )
    )
  }
  const chunk = decode.value(LlmSchema.ChatCompletionChunk, where)
  const parse = decode.text(LlmSchema.ChatCompletionChunk, where)
  let received = 0
  const failed = (data: string) => {
    const { code, detail } = said(data)
    return new StreamFailed({
      ...origin,
      detail,
      chunks: received,
      ...(code === undefined ? {} : { code }),
      ...(requestId === undefined ? {} : { requestId })
    })
  }
  const event = (
    sse: Sse.Event
  ): Effect.Effect<LlmSchema.ChatCompletionChunk, MalformedResponse | StreamFailed> => {
    if (sse.event === "error") return Effect.fail(failed(sse.data))
    let json: unknown
    try {
      json = JSON.parse(sse.data)
    } catch {
      return parse(sse.data)
    }
    if (typeof json === "object" && json !== null && "error" in json) return Effect.fail(failed(sse.data))
    return Effect.tap(chunk(json, sse.data), () =>
      Effect.sync(() => {
        received++
      }))
  }
  return Stream.suspend(() => {
    let finished = false
    received = 0
    const events = Sse.events(
      Stream.mapError(response.stream, (error) =>
        new Errors.ConnectionFailed({
          service: origin.service,
          status,
          detail: `the stream was cut: ${error.message}`
        }))
    )
    // per pull: bounds the silence between two events, not the whole stream
    const bounded = idle === undefined ? events : Stream.timeoutFail(
      events,
      () =>
        new StreamFailed({
          ...origin,
          detail: `no event within ${Duration.format(idle)} (the attempt timeout): the stream stalled`,
          chunks: received,
          ...(requestId === undefined ? {} : { requestId })
        }),
      idle
    )
    return bounded.pipe(
      Stream.takeWhile((sse) => {
        if (sse.data === done) finished = true
        return !finished
      }),
      Stream.mapEffect(event),
      Stream.concat(Stream.suspend(() =>
        finished ? Stream.empty : Stream.fail(
          new MalformedResponse({ ...where, reason: "the stream ended without data: [DONE]", excerpt: "" })
        )
      ))
    )
  })
}
