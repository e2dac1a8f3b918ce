import { Effect, Option, Tracer } from "effect"

/** A span as the recording tracer kept it. */
export interface Recorded {
  readonly name: string
  readonly attributes: Map<string, unknown>
  ended: boolean
}

/** A tracer that keeps every span it starts, with its attributes: run `effect` under it and read `spans`. */
export const recordSpans = <A, E, R>(effect: Effect.Effect<A, E, R>) => {
  const spans: Array<Recorded> = []
  let next = 0
  const tracer = Tracer.make({
    span: (name, parent, context, links, _startTime, kind) => {
      const recorded: Recorded = { name, attributes: new Map(), ended: false }
      spans.push(recorded)
      const id = String(++next)
      return {
        _tag: "Span",
        name,
        spanId: id,
        traceId: Option.match(parent, { onNone: () => id, onSome: (parent) => parent.traceId }),
        parent,
        context,
        status: { _tag: "Started", startTime: 0n },
        attributes: recorded.attributes,
        links,
        sampled: true,
        kind,
        end: () => {
          recorded.ended = true
        },
        attribute: (key, value) => {
          recorded.attributes.set(key, value)
        },
        event: () => {},
        addLinks: () => {}
      }
    },
    context: (f) => f()
  })
  return Effect.map(Effect.withTracer(effect, tracer), (value) => ({ value, spans }))
}
