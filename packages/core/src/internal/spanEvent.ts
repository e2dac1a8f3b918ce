import * as Effect from "effect/Effect"

/** Adds an event to the current span, if there is one; costs nothing to a caller without a span. */
export const spanEvent = (name: string, attributes: Record<string, unknown>): Effect.Effect<void> =>
  Effect.flatMap(Effect.option(Effect.currentSpan), (span) =>
    Effect.clockWith((clock) =>
      Effect.sync(() => {
        if (span._tag === "Some") span.value.event(name, clock.unsafeCurrentTimeNanos(), attributes)
      })
    ))
