/**
 * The `POST /predict` bodies of the Orpheus v2 services and their validation,
 * answered as FastAPI does: pydantic's error list for a field that is missing,
 * of the wrong type or out of range (`{"detail": [...]}`), a plain message for
 * the handlers' own checks (`{"detail": "continue requires midi_input"}`).
 *
 * The checks are written as a table of fields rather than an `effect/Schema`
 * because the answer must name each failure in pydantic's words (its `type`,
 * `msg` and `ctx`), which a Schema issue would have to be translated into anyway.
 */
import * as Midi from "./orpheusMidi.js"

/** The models of the port table. */
export type Model = "base" | "classifier" | "bridge" | "loops" | "children" | "mono_melodies"

/** One entry of pydantic's error list, as FastAPI sends it. */
export interface PydanticError {
  readonly type: string
  readonly loc: ReadonlyArray<string | number>
  readonly msg: string
  readonly input: unknown
  readonly ctx?: Readonly<Record<string, unknown>>
}

/** A refusal: 422 with this `detail`. */
export interface Invalid {
  readonly _tag: "Invalid"
  readonly detail: string | ReadonlyArray<PydanticError>
}

/** A valid request to a generator (base, children, mono, bridge, loops). */
export interface Generate {
  readonly _tag: "Generate"
  readonly task: string
  readonly temperature: number
  readonly topP: number
  readonly maxTokens: number
  readonly numVariations: number
  /** The base64 MIDI the model reads as its prompt, if any (what makes two requests differ). */
  readonly prompt: string | undefined
}

/** A valid request to the classifier. */
export interface Classify {
  readonly _tag: "Classify"
  readonly midi: string
  /** Tokens of the input, before the 1024 cut. */
  readonly tokens: number
}

type Field =
  | { readonly kind: "float" | "int"; readonly default: number; readonly ge: string; readonly le: string }
  | { readonly kind: "string"; readonly required: boolean }
  | { readonly kind: "literal"; readonly values: ReadonlyArray<string> }

const sampling = {
  temperature: { kind: "float", default: 1.0, ge: "0.01", le: "2.0" },
  top_p: { kind: "float", default: 0.95, ge: "0.0", le: "1.0" },
  max_tokens: { kind: "int", default: 1024, ge: "1", le: "8192" }
} as const satisfies Record<string, Field>
const numVariations = { kind: "int", default: 1, ge: "1", le: "8" } as const satisfies Field
const optionalMidi = { kind: "string", required: false } as const satisfies Field
const requiredMidi = { kind: "string", required: true } as const satisfies Field

const generators = (tasks: ReadonlyArray<string>): Record<string, Field> => ({
  task: { kind: "literal", values: tasks },
  midi_input: optionalMidi,
  ...sampling,
  num_variations: numVariations
})

/** The request model of each service, in the order pydantic reports its fields. */
const models: Record<Model, Record<string, Field>> = {
  base: generators(["generate", "generate_seeded", "continue"]),
  children: generators(["generate", "continue"]),
  mono_melodies: generators(["generate", "continue"]),
  bridge: { section_a: requiredMidi, section_b: optionalMidi, ...sampling },
  loops: { seed_midi: optionalMidi, ...sampling, num_variations: numVariations },
  classifier: { midi_input: requiredMidi }
}

const quoteList = (values: ReadonlyArray<string>) => {
  const quoted = values.map((value) => `'${value}'`)
  return quoted.length === 1 ? quoted[0]! : `${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`
}

const numeric = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/

/** One field through pydantic's lax mode: the value, or the error. */
const check = (name: string, field: Field, input: unknown): { value: unknown } | PydanticError => {
  const loc = ["body", name]
  switch (field.kind) {
    case "string":
      if (input === undefined) {
        return field.required ? { type: "missing", loc, msg: "Field required", input: undefined } : { value: undefined }
      }
      if (input === null && !field.required) return { value: undefined }
      return typeof input === "string"
        ? { value: input }
        : { type: "string_type", loc, msg: "Input should be a valid string", input }
    case "literal": {
      const value = input === undefined ? field.values[0] : input
      const expected = quoteList(field.values)
      return typeof value === "string" && field.values.includes(value)
        ? { value }
        : { type: "literal_error", loc, msg: `Input should be ${expected}`, input, ctx: { expected } }
    }
    case "float":
    case "int": {
      if (input === undefined) return { value: field.default }
      const number = typeof input === "number"
        ? input
        : typeof input === "string" && numeric.test(input)
        ? Number(input)
        : undefined
      if (number === undefined) {
        return field.kind === "int"
          ? typeof input === "string"
            ? {
              type: "int_parsing",
              loc,
              msg: "Input should be a valid integer, unable to parse string as an integer",
              input
            }
            : { type: "int_type", loc, msg: "Input should be a valid integer", input }
          : typeof input === "string"
          ? {
            type: "float_parsing",
            loc,
            msg: "Input should be a valid number, unable to parse string as a number",
            input
          }
          : { type: "float_type", loc, msg: "Input should be a valid number", input }
      }
      if (field.kind === "int" && !Number.isInteger(number)) {
        return {
          type: "int_from_float",
          loc,
          msg: "Input should be a valid integer, got a number with a fractional part",
          input
        }
      }
      if (number < Number(field.ge)) {
        return {
          type: "greater_than_equal",
          loc,
          msg: `Input should be greater than or equal to ${field.ge}`,
          input,
          ctx: { ge: Number(field.ge) }
        }
      }
      if (number > Number(field.le)) {
        return {
          type: "less_than_equal",
          loc,
          msg: `Input should be less than or equal to ${field.le}`,
          input,
          ctx: { le: Number(field.le) }
        }
      }
      return { value: number }
    }
  }
}

const invalid = (detail: Invalid["detail"]): Invalid => ({ _tag: "Invalid", detail })

/** The body as FastAPI reads it: JSON text, or the pydantic error for text that is not JSON. */
export const parseJson = (text: string): { readonly body: unknown } | Invalid => {
  if (text.trim() === "") {
    return invalid([{ type: "missing", loc: ["body"], msg: "Field required", input: null }])
  }
  try {
    return { body: JSON.parse(text) as unknown }
  } catch {
    return invalid([{
      type: "json_invalid",
      loc: ["body", 0],
      msg: "JSON decode error",
      input: {},
      ctx: { error: "Expecting value" }
    }])
  }
}

/** Decodes base64 MIDI; the handler's message when it is not (`where` names the field when the service does). */
const readMidi = (text: string, where: string): number | Invalid => {
  const bytes = Midi.decodeBase64(text)
  if (typeof bytes === "string") return invalid(`Invalid base64${where}: ${bytes}`)
  const summary = Midi.read(bytes)
  if (typeof summary === "string") return invalid(`Invalid MIDI${where}: ${summary}`)
  return summary.notes * Midi.tokensPerNote
}

/** Validates a parsed body against the request model of `model`, then the handler's own checks. */
export const validate = (model: Model, body: unknown): Generate | Classify | Invalid => {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return invalid([{
      type: "model_attributes_type",
      loc: ["body"],
      msg: "Input should be a valid dictionary or object to extract fields from",
      input: body
    }])
  }
  const record = body as Record<string, unknown>
  const values: Record<string, unknown> = {}
  const errors: Array<PydanticError> = []
  for (const [name, field] of Object.entries(models[model])) {
    const checked = check(name, field, record[name])
    if ("value" in checked) values[name] = checked.value
    // pydantic echoes the whole body as the input of a missing field
    else errors.push(checked.type === "missing" ? { ...checked, input: body } : checked)
  }
  if (errors.length > 0) return invalid(errors)

  if (model === "classifier") {
    const midi = values.midi_input as string
    const tokens = readMidi(midi, "")
    if (typeof tokens !== "number") return tokens
    return tokens < 10
      ? invalid(`MIDI too short: ${tokens} tokens, need at least 10`)
      : { _tag: "Classify", midi, tokens }
  }
  const task = model === "bridge" ? "bridge" : model === "loops" ? "loops" : values.task as string
  let prompt: string | undefined
  if (model === "bridge") {
    prompt = values.section_a as string
    const read = readMidi(prompt, " in section_a")
    if (typeof read !== "number") return read
  } else if (model === "loops") {
    // the real server reads seed_midi and nothing else: hootenanny's `seed` is ignored
    prompt = values.seed_midi as string | undefined
    const read = prompt === undefined ? 0 : readMidi(prompt, " in seed_midi")
    if (typeof read !== "number") return read
  } else if (task !== "generate") {
    prompt = values.midi_input as string | undefined
    if (prompt === undefined) return invalid(`${task} requires midi_input`)
    const read = readMidi(prompt, "")
    if (typeof read !== "number") return read
  }
  return {
    _tag: "Generate",
    task,
    temperature: values.temperature as number,
    topP: values.top_p as number,
    maxTokens: values.max_tokens as number,
    numVariations: model === "bridge" ? 1 : values.num_variations as number,
    prompt
  }
}

/** The `client_job_id` rule of hrserve: letters, digits, `.`, `_`, `:`, `-`; 1 to 256 characters. */
export const clientJobIdPattern = /^[a-zA-Z0-9._:-]{1,256}$/
