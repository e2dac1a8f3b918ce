import { HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Stream } from "effect"
import * as OllamaStream from "../src/internal/ollamaStream.js"
import * as OllamaSchema from "../src/OllamaSchema.js"

const origin = { service: "ollama", endpoint: "POST /api/generate", model: "llama3.2:3b", readTimeout: undefined }
const request = HttpClientRequest.post("http://127.0.0.1:11434/api/generate")

/** A 200 whose body arrives in the given pieces (lines split across reads, as a socket does). */
const answer = (pieces: ReadonlyArray<string>, contentType = "application/x-ndjson") => {
  const encoder = new TextEncoder()
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const piece of pieces) controller.enqueue(encoder.encode(piece))
      controller.close()
    }
  })
  return HttpClientResponse.fromWeb(request, new Response(body, { headers: { "content-type": contentType } }))
}

const chunk = (response: string, done = false, extra: object = {}) =>
  JSON.stringify({ model: "llama3.2:3b", created_at: "2025-01-01T00:00:00.000000001Z", response, done, ...extra }) +
  "\n"

const run = (pieces: ReadonlyArray<string>, contentType?: string) =>
  Stream.runCollect(OllamaStream.chunks(OllamaSchema.GenerateChunk, origin, answer(pieces, contentType))).pipe(
    Effect.map(Chunk.toReadonlyArray),
    Effect.either
  )

const fields = (error: unknown) => ({ ...(error as object), _tag: (error as { _tag: string })._tag })

describe("Ollama NDJSON streams", () => {
  it.effect("lines split across reads are put back together; the stream ends with done: true", () =>
    Effect.gen(function*() {
      const all = chunk("Hel") + chunk("lo") + chunk("", true, { eval_count: 2, done_reason: "stop" })
      const result = yield* run([all.slice(0, 10), all.slice(10, 70), all.slice(70)])
      expect(result._tag).toBe("Right")
      const chunks = result._tag === "Right" ? result.right : []
      expect(chunks.map((c) => c.response)).toEqual(["Hel", "lo", ""])
      expect(chunks.at(-1)).toMatchObject({ done: true, eval_count: 2, done_reason: "stop" })
    }))

  it.effect("nothing after done: true is read", () =>
    Effect.gen(function*() {
      const result = yield* run([chunk("a", true), "not json\n"])
      expect(result._tag).toBe("Right")
    }))

  it.effect("an error line mid-stream is StreamFailed with Ollama's text and the chunks before it", () =>
    Effect.gen(function*() {
      const result = yield* run([chunk("a"), chunk("b"), "{\"error\":\"model runner has unexpectedly stopped\"}\n"])
      expect(result._tag).toBe("Left")
      expect(result._tag === "Left" && fields(result.left)).toEqual({
        _tag: "StreamFailed",
        service: "ollama",
        model: "llama3.2:3b",
        endpoint: "POST /api/generate",
        chunks: 2,
        detail: "model runner has unexpectedly stopped"
      })
    }))

  it.effect("a line that is not JSON, or not a chunk, is MalformedResponse with an excerpt", () =>
    Effect.gen(function*() {
      const notJson = yield* run([chunk("a"), "<html>\n"])
      expect(notJson._tag === "Left" && fields(notJson.left)).toMatchObject({
        _tag: "MalformedResponse",
        service: "ollama",
        endpoint: "POST /api/generate",
        status: 200,
        excerpt: "<html>"
      })
      const wrongShape = yield* run(["{\"model\":\"x\",\"done\":\"yes\"}\n"])
      expect(wrongShape._tag === "Left" && fields(wrongShape.left)).toMatchObject({ _tag: "MalformedResponse" })
      expect(wrongShape._tag === "Left" && (wrongShape.left as { reason: string }).reason).toContain("done")
    }))

  it.effect("a body that ends mid-line or before done: true is StreamTruncated", () =>
    Effect.gen(function*() {
      const midLine = yield* run([chunk("a"), chunk("b").slice(0, 20)])
      expect(midLine._tag === "Left" && fields(midLine.left)).toMatchObject({ _tag: "StreamTruncated", chunks: 1 })
      expect(midLine._tag === "Left" && (midLine.left as { detail: string }).detail).toContain("mid-line")
      const noDone = yield* run([chunk("a"), chunk("b")])
      expect(noDone._tag === "Left" && fields(noDone.left)).toMatchObject({
        _tag: "StreamTruncated",
        chunks: 2,
        detail: "the body ended before done: true"
      })
    }))

  it.effect("application/json is one object (a load-only answer); another content type is malformed", () =>
    Effect.gen(function*() {
      const load = yield* run([chunk("", true, { done_reason: "load" }).trim()], "application/json; charset=utf-8")
      expect(load._tag === "Right" && load.right).toMatchObject([{ done: true, done_reason: "load" }])
      const html = yield* run(["<html>Bad Gateway</html>"], "text/html")
      expect(html._tag === "Left" && fields(html.left)).toMatchObject({
        _tag: "MalformedResponse",
        reason: "expected application/x-ndjson, got \"text/html\"",
        excerpt: "<html>Bad Gateway</html>"
      })
    }))

  it.live("a body that stops sending past the read timeout is StreamTruncated", () =>
    Effect.gen(function*() {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(chunk("a")))
        }
      })
      const response = HttpClientResponse.fromWeb(
        request,
        new Response(body, { headers: { "content-type": "application/x-ndjson" } })
      )
      const error = yield* Effect.flip(Stream.runDrain(
        OllamaStream.chunks(OllamaSchema.GenerateChunk, { ...origin, readTimeout: Duration.millis(30) }, response)
      ))
      expect(fields(error)).toMatchObject({
        _tag: "StreamTruncated",
        chunks: 1,
        detail: "no data within the read timeout"
      })
    }))
})
