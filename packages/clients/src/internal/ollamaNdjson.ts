/**
 * NDJSON framing for Ollama's streams: lines may be split across reads, and
 * every line Ollama writes ends in `\n`, so text left without its newline
 * when the body ends is a cut stream, not a last line.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/** A complete line, or the text the body ended with before its newline. */
export type Frame =
  | { readonly _tag: "Line"; readonly text: string }
  | { readonly _tag: "Cut"; readonly text: string }

/** The frames of a text stream; blank lines are skipped. */
export const frames = <E, R>(text: Stream.Stream<string, E, R>): Stream.Stream<Frame, E, R> =>
  Stream.suspend(() => {
    let pending = ""
    const lines = Stream.mapConcat(text, (piece) => {
      pending += piece
      const parts = pending.split("\n")
      pending = parts.pop()!
      return Chunk.fromIterable(
        parts.map((line) => line.replace(/\r$/, "")).filter((line) => line.trim() !== "").map((line): Frame => ({
          _tag: "Line",
          text: line
        }))
      )
    })
    const rest = Stream.unwrap(
      Effect.sync(() =>
        pending.trim() === "" ? Stream.empty : Stream.make<Array<Frame>>({ _tag: "Cut", text: pending })
      )
    )
    return Stream.concat(lines, rest)
  })
