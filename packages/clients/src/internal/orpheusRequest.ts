/**
 * Checks a caller's options against the protocol's ranges (fact sheet §3, the
 * v2 services' validation) before anything is sent, and writes the snake_case
 * body. Defaults are filled client-side, as hootenanny does, so the server's
 * defaults never matter.
 */
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import { InvalidRequest } from "../OrpheusSchema.js"

/** The v1 and v2 services' `CLIENT_JOB_ID_PATTERN`. */
export const clientJobIdPattern = /^[a-zA-Z0-9._:-]{1,256}$/

/** hootenanny's defaults (fact sheet §7.1), the v2 services' own defaults too. */
export const samplingDefaults = {
  temperature: 1.0,
  topP: 0.95,
  maxTokens: 1024,
  numVariations: 1
} as const

/** v2 rejects a temperature below 0.01 with 422; v1 clamps to it. */
export const minTemperature = 0.01
export const maxTemperature = 2.0
export const maxMaxTokens = 8192
export const maxVariations = 8

const render = (value: unknown): string => {
  const text = typeof value === "string" ? JSON.stringify(value) : String(value)
  return text.length <= 80 ? text : `${text.slice(0, 80)}…`
}

export const checker = (service: string) => {
  const refuse = (field: string, value: unknown, expected: string) =>
    Effect.fail(new InvalidRequest({ service, field, value: render(value), expected }))

  const number = (
    field: string,
    value: number | undefined,
    fallback: number,
    min: number,
    max: number,
    integer: boolean
  ): Effect.Effect<number, InvalidRequest> => {
    if (value === undefined) return Effect.succeed(fallback)
    const ok = typeof value === "number" && Number.isFinite(value) && value >= min && value <= max &&
      (!integer || Number.isInteger(value))
    return ok
      ? Effect.succeed(value)
      : refuse(field, value, `${integer ? "a whole number" : "a number"} in [${min}, ${max}]`)
  }

  return {
    refuse,
    clientJobId: (value: string | undefined): Effect.Effect<string | undefined, InvalidRequest> =>
      value === undefined || (typeof value === "string" && clientJobIdPattern.test(value))
        ? Effect.succeed(value)
        : refuse("clientJobId", value, "1-256 letters, digits, '.', '_', ':' or '-' (^[a-zA-Z0-9._:-]{1,256}$)"),
    /**
     * Any temperature in [0, 2.0] is accepted (hootenanny's range); below 0.01
     * it is sent as 0.01, the lowest the v2 services take and what v1 clamps to.
     */
    temperature: (value: number | undefined): Effect.Effect<number, InvalidRequest> =>
      Effect.map(
        number("temperature", value, samplingDefaults.temperature, 0, maxTemperature, false),
        (t) => Math.max(minTemperature, t)
      ),
    topP: (value: number | undefined) => number("topP", value, samplingDefaults.topP, 0, 1, false),
    maxTokens: (value: number | undefined) =>
      number("maxTokens", value, samplingDefaults.maxTokens, 1, maxMaxTokens, true),
    numVariations: (value: number | undefined) =>
      number("numVariations", value, samplingDefaults.numVariations, 1, maxVariations, true),
    /** Raw Standard MIDI File bytes → standard base64 with padding, the services' encoding. */
    midi: (field: string, value: Uint8Array | undefined): Effect.Effect<string, InvalidRequest> => {
      if (!(value instanceof Uint8Array)) return refuse(field, value, "the bytes of a Standard MIDI File")
      const header = value.length >= 4 && value[0] === 0x4d && value[1] === 0x54 && value[2] === 0x68 &&
        value[3] === 0x64
      return header
        ? Effect.succeed(Encoding.encodeBase64(value))
        : refuse(field, `${value.length} bytes`, "a Standard MIDI File (starting with \"MThd\")")
    }
  }
}
