/**
 * Decodes a streamed Ollama answer into its chunks. Ollama streams NDJSON
 * (`application/x-ndjson`) but answers a load-only request with one JSON
 * object even when asked to stream, so `application/json` is one chunk;
 * anything else (an HTML page from a proxy) is malformed. An `{"error": ...}`
 * line is Ollama's way to fail after its 200 was sent.
 */
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { MalformedResponse, StreamFailed } from "../ClientErrors.js"
import { StreamTruncated } from "../OllamaErrors.js"
import { ErrorLine } from "../OllamaSchema.js"
import * as Decode from "./decode.js"
import { frames } from "./ollamaNdjson.js"

/** Where the stream comes from, for its errors. */
export interface Origin {
  readonly service: string
  readonly endpoint: string
  readonly model: string
  /** The longest wait for the next bytes (the seed's read timeout); none when undefined. */
  readonly readTimeout: Duration.Duration | undefined
}

const isErrorLine = Schema.is(ErrorLine)

/** The decoded chunks of `response`, ending with the one whose `done` is true. */
export const chunks = <A extends { readonly done: boolean }, I>(
  schema: Schema.Schema<A, I>,
  origin: Origin,
  response: HttpClientResponse.HttpClientResponse
): Stream.Stream<A, MalformedResponse | StreamFailed | StreamTruncated> =>
  Stream.suspend(() => {
    const { endpoint, model, readTimeout, service } = origin
    const status = response.status
    let received = 0
    let done = false
    const truncated = (detail: string) => new StreamTruncated({ model, endpoint, chunks: received, detail })
    const decode = Decode.value(schema, { service, endpoint, status })
    const parse = (raw: string): Effect.Effect<A, MalformedResponse | StreamFailed> =>
      Effect.flatMap(
        Effect.try({
          try: () => JSON.parse(raw) as unknown,
          catch: (error) =>
            new MalformedResponse({
              service,
              endpoint,
              status,
              reason: `a line is not JSON: ${error instanceof Error ? error.message : String(error)}`,
              excerpt: Decode.excerpt(raw)
            })
        }),
        (input): Effect.Effect<A, MalformedResponse | StreamFailed> =>
          isErrorLine(input)
            ? Effect.fail(new StreamFailed({ service, endpoint, model, chunks: received, detail: input.error }))
            : decode(input, raw)
      )
    const contentType = (response.headers["content-type"] ?? "").toLowerCase()
    let text = Stream.decodeText(response.stream).pipe(
      Stream.mapError((error) => truncated(`the body could not be read: ${error.message}`))
    )
    // an infinite timeout means none
    if (readTimeout !== undefined && Duration.isFinite(readTimeout)) {
      text = Stream.timeoutFail(text, () => truncated("no data within the read timeout"), readTimeout)
    }
    let decoded: Stream.Stream<A, MalformedResponse | StreamFailed | StreamTruncated>
    if (contentType.startsWith("application/x-ndjson")) {
      decoded = frames(text).pipe(
        Stream.mapEffect((frame): Effect.Effect<A, MalformedResponse | StreamFailed | StreamTruncated> =>
          frame._tag === "Cut"
            ? Effect.fail(truncated(`the body ended mid-line: ${JSON.stringify(Decode.excerpt(frame.text))}`))
            : parse(frame.text)
        )
      )
    } else {
      decoded = Stream.unwrap(Effect.map(Stream.mkString(text), (all): typeof decoded => {
        if (contentType.startsWith("application/json")) return Stream.fromEffect(parse(all))
        return Stream.fail(
          new MalformedResponse({
            service,
            endpoint,
            status,
            reason: `expected application/x-ndjson, got "${contentType}"`,
            excerpt: Decode.excerpt(all)
          })
        )
      }))
    }
    return decoded.pipe(
      Stream.takeUntil((chunk) => chunk.done),
      Stream.tap((chunk) =>
        Effect.sync(() => {
          received++
          done = chunk.done
        })
      ),
      Stream.concat(
        Stream.suspend(() => done ? Stream.empty : Stream.fail(truncated("the body ended before done: true")))
      )
    )
  })
