/**
 * Checks a caller's options against the protocol's ranges (fact sheet §3, the
 * v2 services' validation) before anything is sent, and writes the snake_case
 * body. Defaults are filled client-side, as hootenanny does, so the server's
 * defaults never matter.
 */
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import type { InvalidInput } from "../ClientErrors.js"
import type { Model } from "../OrpheusSchema.js"
import * as Input from "./input.js"

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

/** The checks of one call: `service` is the model's server, `operation` the client's method. */
export const checker = (service: string, operation: string) => {
  const refuse = (field: string, value: unknown, expected: string) =>
    Effect.fail(Input.invalid({ service, operation }, field, value, `expected ${expected}`))

  const number = (
    field: string,
    value: number | undefined,
    fallback: number,
    min: number,
    max: number,
    integer: boolean
  ): Effect.Effect<number, InvalidInput> => {
    if (value === undefined) return Effect.succeed(fallback)
    const ok = typeof value === "number" && Number.isFinite(value) && value >= min && value <= max &&
      (!integer || Number.isInteger(value))
    return ok
      ? Effect.succeed(value)
      : refuse(field, value, `${integer ? "a whole number" : "a number"} in [${min}, ${max}]`)
  }

  return {
    refuse,
    clientJobId: (value: string | undefined): Effect.Effect<string | undefined, InvalidInput> =>
      value === undefined || (typeof value === "string" && clientJobIdPattern.test(value))
        ? Effect.succeed(value)
        : refuse("clientJobId", value, "1-256 letters, digits, '.', '_', ':' or '-' (^[a-zA-Z0-9._:-]{1,256}$)"),
    /**
     * Any temperature in [0, 2.0] is accepted (hootenanny's range); below 0.01
     * it is sent as 0.01, the lowest the v2 services take and what v1 clamps to.
     */
    temperature: (value: number | undefined): Effect.Effect<number, InvalidInput> =>
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
    midi: (field: string, value: Uint8Array | undefined): Effect.Effect<string, InvalidInput> => {
      if (!(value instanceof Uint8Array)) return refuse(field, value, "the bytes of a Standard MIDI File")
      const header = value.length >= 4 && value[0] === 0x4d && value[1] === 0x54 && value[2] === 0x68 &&
        value[3] === 0x64
      return header
        ? Effect.succeed(Encoding.encodeBase64(value))
        : refuse(field, value, "a Standard MIDI File (starting with \"MThd\")")
    }
  }
}

/** The checks of one call. */
export type Checker = ReturnType<typeof checker>

interface SamplingInput {
  readonly temperature?: number | undefined
  readonly topP?: number | undefined
  readonly maxTokens?: number | undefined
}

interface CallInput extends SamplingInput {
  readonly clientJobId?: string | undefined
}

/** A checked call: which model's server, the job id the caller gave (if any) and the body to send. */
export interface Checked {
  readonly model: Model
  readonly clientJobId: string | undefined
  readonly body: Record<string, unknown>
}

const sampling = (c: Checker, options: SamplingInput) =>
  Effect.all({
    temperature: c.temperature(options.temperature),
    top_p: c.topP(options.topP),
    max_tokens: c.maxTokens(options.maxTokens)
  })

const generatorModels: ReadonlySet<string> = new Set(["base", "children", "mono_melodies"])

const operations = { generate: "generate", generate_seeded: "generateSeeded", continue: "continue" } as const

/** `generate`, `generateSeeded` and `continue`: a generator model, and a MIDI prompt except for `generate`. */
export const generator = (
  services: Readonly<Record<Model, string>>,
  task: "generate" | "generate_seeded" | "continue",
  options: CallInput & { readonly model?: string | undefined; readonly numVariations?: number | undefined },
  midi?: Uint8Array
): Effect.Effect<Checked, InvalidInput> =>
  Effect.gen(function*() {
    const operation = operations[task]
    const model = options.model ?? "base"
    if (!generatorModels.has(model)) {
      return yield* checker(services.base, operation).refuse("model", model, "base, children or mono_melodies")
    }
    const c = checker(services[model as Model], operation)
    if (task === "generate_seeded" && model !== "base") {
      return yield* c.refuse("model", model, "base (only orpheus-base answers generate_seeded)")
    }
    const clientJobId = yield* c.clientJobId(options.clientJobId)
    const body = {
      task,
      model,
      ...(midi === undefined && task === "generate" ? {} : { midi_input: yield* c.midi("midi", midi) }),
      ...(yield* sampling(c, options)),
      num_variations: yield* c.numVariations(options.numVariations)
    }
    return { model: model as Model, clientJobId, body }
  })

/** orpheus-bridge: section A, and B "for future use". */
export const bridge = (
  service: string,
  options: CallInput & { readonly sectionA: Uint8Array; readonly sectionB?: Uint8Array | undefined }
): Effect.Effect<Checked, InvalidInput> =>
  Effect.gen(function*() {
    const c = checker(service, "bridge")
    const clientJobId = yield* c.clientJobId(options.clientJobId)
    const body = {
      section_a: yield* c.midi("sectionA", options.sectionA),
      ...(options.sectionB === undefined ? {} : { section_b: yield* c.midi("sectionB", options.sectionB) }),
      ...(yield* sampling(c, options))
    }
    return { model: "bridge", clientJobId, body }
  })

/** orpheus-loops: an optional seed. */
export const loops = (
  service: string,
  options: CallInput & { readonly seed?: Uint8Array | undefined; readonly numVariations?: number | undefined }
): Effect.Effect<Checked, InvalidInput> =>
  Effect.gen(function*() {
    const c = checker(service, "loops")
    const clientJobId = yield* c.clientJobId(options.clientJobId)
    const body = {
      ...(options.seed === undefined ? {} : { seed_midi: yield* c.midi("seed", options.seed) }),
      ...(yield* sampling(c, options)),
      num_variations: yield* c.numVariations(options.numVariations)
    }
    return { model: "loops", clientJobId, body }
  })

/** orpheus-classifier: the MIDI to judge. */
export const classify = (
  service: string,
  options: { readonly clientJobId?: string | undefined; readonly midi: Uint8Array }
): Effect.Effect<Checked, InvalidInput> =>
  Effect.gen(function*() {
    const c = checker(service, "classify")
    const clientJobId = yield* c.clientJobId(options.clientJobId)
    return { model: "classifier", clientJobId, body: { midi_input: yield* c.midi("midi", options.midi) } }
  })
