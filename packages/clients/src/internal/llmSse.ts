import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

/** One Server-Sent Event: its `event:` name (when given) and its `data:` lines joined by `\n`. */
export interface Event {
  readonly event: string | undefined
  readonly data: string
}

interface Pending {
  readonly event: string | undefined
  readonly data: ReadonlyArray<string>
}

const empty: Pending = { event: undefined, data: [] }

/**
 * The events of an SSE body (WHATWG HTML §9.2.6, the parts OpenAI uses):
 * lines may be split across reads and end in `\n`, `\r\n` or `\r`; a blank
 * line dispatches the event; `:` lines are comments; `id:` and `retry:` are
 * ignored (a completion is never resumed). An event cut off by the end of the
 * body is dropped, as the standard says: the caller notices the missing
 * `[DONE]`.
 */
export const events = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Event, E, R> =>
  bytes.pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.mapAccum(empty, (pending, line): [Pending, Option.Option<Event>] => {
      if (line === "") {
        return pending.data.length === 0
          ? [empty, Option.none()]
          : [empty, Option.some({ event: pending.event, data: pending.data.join("\n") })]
      }
      if (line.startsWith(":")) return [pending, Option.none()]
      const colon = line.indexOf(":")
      const field = colon === -1 ? line : line.slice(0, colon)
      const value = colon === -1 ? "" : line.slice(colon + (line[colon + 1] === " " ? 2 : 1))
      switch (field) {
        case "data":
          return [{ ...pending, data: [...pending.data, value] }, Option.none()]
        case "event":
          return [{ ...pending, event: value }, Option.none()]
        default:
          return [pending, Option.none()]
      }
    }),
    Stream.filterMap((event) => event)
  )
