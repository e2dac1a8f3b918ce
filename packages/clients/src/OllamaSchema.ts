/**
 * The Schemas of Ollama's native API (`/api/generate`, `/api/chat`,
 * `/api/tags`, `/api/ps`, `/api/version`), after `api/types.go` and
 * `docs/api.md`. Responses keep only the fields Bulwark reads and let the
 * others through, so a newer server's extra fields never fail a decode.
 * Durations are Ollama's: integer nanoseconds.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Model parameters (`options`): the common ones typed, any other passed as is.
 *
 * @since 0.1.0
 * @category Requests
 */
export const ModelOptions = Schema.Struct(
  {
    temperature: Schema.optional(Schema.Number.pipe(Schema.finite(), Schema.nonNegative())),
    top_p: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
    top_k: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
    num_predict: Schema.optional(Schema.Int),
    num_ctx: Schema.optional(Schema.Int.pipe(Schema.positive())),
    seed: Schema.optional(Schema.Int),
    stop: Schema.optional(Schema.Array(Schema.String)),
    repeat_penalty: Schema.optional(Schema.Number.pipe(Schema.finite()))
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

/**
 * @since 0.1.0
 * @category Requests
 */
export type ModelOptions = typeof ModelOptions.Type

/** `keep_alive`: a Go duration (`"5m"`, `"-1"`) or seconds. */
const KeepAlive = Schema.Union(Schema.String, Schema.Number)

/** `format`: `"json"` or a JSON Schema object. */
const Format = Schema.Union(Schema.Literal("json"), Schema.Record({ key: Schema.String, value: Schema.Unknown }))

const Think = Schema.Union(Schema.Boolean, Schema.Literal("low", "medium", "high", "max"))

/** A model name: `name[:tag]`, never empty (Ollama answers 400 / 404 to an empty one). */
const ModelName = Schema.String.pipe(Schema.nonEmptyString({ message: () => "model must be a non-empty name" }))

const common = {
  model: ModelName,
  format: Schema.optional(Format),
  options: Schema.optional(ModelOptions),
  keep_alive: Schema.optional(KeepAlive),
  think: Schema.optional(Think),
  /** Ollama answers 400 outside 0–20. */
  top_logprobs: Schema.optional(Schema.Int.pipe(Schema.between(0, 20))),
  logprobs: Schema.optional(Schema.Boolean)
}

/**
 * `POST /api/generate` without `stream`: the client sets it.
 *
 * @since 0.1.0
 * @category Requests
 */
export const GenerateRequest = Schema.Struct({
  ...common,
  prompt: Schema.optional(Schema.String),
  suffix: Schema.optional(Schema.String),
  system: Schema.optional(Schema.String),
  template: Schema.optional(Schema.String),
  context: Schema.optional(Schema.Array(Schema.Int)),
  raw: Schema.optional(Schema.Boolean),
  images: Schema.optional(Schema.Array(Schema.String))
})

/**
 * @since 0.1.0
 * @category Requests
 */
export type GenerateRequest = typeof GenerateRequest.Type

/**
 * A tool call in a chat message: on `/api/chat` the arguments are an object.
 *
 * @since 0.1.0
 * @category Models
 */
export const ToolCall = Schema.Struct({
  id: Schema.optional(Schema.String),
  function: Schema.Struct({
    index: Schema.optional(Schema.Int),
    name: Schema.String,
    arguments: Schema.Record({ key: Schema.String, value: Schema.Unknown })
  })
})

/**
 * @since 0.1.0
 * @category Models
 */
export const Message = Schema.Struct({
  role: Schema.Literal("system", "user", "assistant", "tool"),
  content: Schema.String,
  thinking: Schema.optional(Schema.String),
  images: Schema.optional(Schema.Array(Schema.String)),
  tool_calls: Schema.optional(Schema.Array(ToolCall)),
  tool_name: Schema.optional(Schema.String),
  tool_call_id: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type Message = typeof Message.Type

/**
 * `POST /api/chat` without `stream`: the client sets it.
 *
 * @since 0.1.0
 * @category Requests
 */
export const ChatRequest = Schema.Struct({
  ...common,
  messages: Schema.Array(Message),
  tools: Schema.optional(Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown })))
})

/**
 * @since 0.1.0
 * @category Requests
 */
export type ChatRequest = typeof ChatRequest.Type

const Nanos = Schema.optional(Schema.Number.pipe(Schema.int(), Schema.nonNegative()))

/** Present on the final object only, and each left out when zero (`omitempty`). */
const metrics = {
  done_reason: Schema.optional(Schema.String),
  total_duration: Nanos,
  load_duration: Nanos,
  prompt_eval_count: Nanos,
  prompt_eval_duration: Nanos,
  eval_count: Nanos,
  eval_duration: Nanos
}

/**
 * One object of a `/api/generate` answer: a token while `done` is false,
 * the whole text (non-streaming) or `""` (streaming) with the metrics when
 * `done` is true.
 *
 * @since 0.1.0
 * @category Responses
 */
export const GenerateChunk = Schema.Struct({
  model: Schema.String,
  created_at: Schema.String,
  response: Schema.String,
  thinking: Schema.optional(Schema.String),
  done: Schema.Boolean,
  context: Schema.optional(Schema.Array(Schema.Int)),
  ...metrics
})

/**
 * @since 0.1.0
 * @category Responses
 */
export type GenerateChunk = typeof GenerateChunk.Type

/**
 * One object of a `/api/chat` answer, shaped as {@link GenerateChunk} with
 * `message` instead of `response`.
 *
 * @since 0.1.0
 * @category Responses
 */
export const ChatChunk = Schema.Struct({
  model: Schema.String,
  created_at: Schema.String,
  message: Message,
  done: Schema.Boolean,
  ...metrics
})

/**
 * @since 0.1.0
 * @category Responses
 */
export type ChatChunk = typeof ChatChunk.Type

/**
 * @since 0.1.0
 * @category Responses
 */
export const ModelDetails = Schema.Struct({
  parent_model: Schema.optional(Schema.String),
  format: Schema.optional(Schema.String),
  family: Schema.optional(Schema.String),
  families: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  parameter_size: Schema.optional(Schema.String),
  quantization_level: Schema.optional(Schema.String)
})

/**
 * A local model (`GET /api/tags`).
 *
 * @since 0.1.0
 * @category Responses
 */
export const LocalModel = Schema.Struct({
  name: Schema.String,
  model: Schema.String,
  modified_at: Schema.String,
  size: Schema.Number,
  digest: Schema.String,
  details: ModelDetails
})

/**
 * @since 0.1.0
 * @category Responses
 */
export const TagsResponse = Schema.Struct({ models: Schema.Array(LocalModel) })

/**
 * @since 0.1.0
 * @category Responses
 */
export type TagsResponse = typeof TagsResponse.Type

/**
 * A model in memory (`GET /api/ps`): `expires_at` is when keep-alive unloads
 * it; `size_vram < size` means part of it runs on the CPU.
 *
 * @since 0.1.0
 * @category Responses
 */
export const RunningModel = Schema.Struct({
  name: Schema.String,
  model: Schema.String,
  size: Schema.Number,
  digest: Schema.String,
  details: ModelDetails,
  expires_at: Schema.String,
  size_vram: Schema.Number,
  context_length: Schema.optional(Schema.Number)
})

/**
 * @since 0.1.0
 * @category Responses
 */
export const PsResponse = Schema.Struct({ models: Schema.Array(RunningModel) })

/**
 * @since 0.1.0
 * @category Responses
 */
export type PsResponse = typeof PsResponse.Type

/**
 * @since 0.1.0
 * @category Responses
 */
export const VersionResponse = Schema.Struct({ version: Schema.String })

/**
 * @since 0.1.0
 * @category Responses
 */
export type VersionResponse = typeof VersionResponse.Type

/**
 * An error line inside a stream (`{"error": "..."}` after a 200 was sent).
 *
 * @since 0.1.0
 * @category Responses
 */
export const ErrorLine = Schema.Struct({ error: Schema.String })
