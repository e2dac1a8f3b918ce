/**
 * The duration options a caller passes per call (`timeout`, `interval`),
 * decoded inside the call's Effect: a value that is no duration is an
 * `InvalidInput` naming the option, never a defect thrown by `Duration.decode`.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { InvalidInput } from "../ClientErrors.js"
import * as Input from "./input.js"

// Duration.decodeUnknown reads a negative or NaN input as zero: refuse those first.
const negative = (input: unknown): boolean =>
  (typeof input === "number" && !(input >= 0)) || (typeof input === "string" && input.trim().startsWith("-"))

const decode = (input: unknown): Option.Option<Duration.Duration> =>
  negative(input) ? Option.none() : Duration.decodeUnknown(input)

/**
 * A per-call timeout: unset stays unset; else a duration > 0, where an
 * infinite one means no timeout (as the policy's `attemptTimeout` reads it).
 */
export const timeout = (
  origin: Input.Origin,
  field: string,
  input: unknown
): Effect.Effect<Duration.Duration | undefined, InvalidInput> =>
  Effect.suspend(() => {
    if (input === undefined) return Effect.succeed(undefined)
    const decoded = decode(input)
    return Option.isSome(decoded) && Duration.greaterThan(decoded.value, Duration.zero)
      ? Effect.succeed(decoded.value)
      : Effect.fail(Input.invalid(origin, field, input, "a duration > 0, e.g. \"30 seconds\""))
  })

/** A required duration: ≥ 0 (infinite allowed), or finite and > 0. */
export const required = (
  origin: Input.Origin,
  field: string,
  input: unknown,
  rule: "non-negative" | "positive-finite"
): Effect.Effect<Duration.Duration, InvalidInput> =>
  Effect.suspend(() => {
    const decoded = decode(input)
    if (Option.isSome(decoded)) {
      const ok = rule === "non-negative"
        ? true
        : Duration.isFinite(decoded.value) && Duration.greaterThan(decoded.value, Duration.zero)
      if (ok) return Effect.succeed(decoded.value)
    }
    const expected = rule === "non-negative" ? "a duration ≥ 0" : "a finite duration > 0"
    return Effect.fail(Input.invalid(origin, field, input, `${expected}, e.g. "2 seconds"`))
  })

/** A read timeout for a stream: none when unset or infinite. */
export const finiteOrNone = (duration: Duration.Duration | undefined): Duration.Duration | undefined =>
  duration === undefined || !Duration.isFinite(duration) ? undefined : duration
