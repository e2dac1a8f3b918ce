/**
 * The wire of OpenAI's chat completions, as `effect/Schema`: the request, the
 * JSON answer, the streamed chunks and the error envelope. Only the fields the
 * protocol promises are checked; unknown fields (new ones appear often:
 * `obfuscation`, `service_tier`, `annotations`) are ignored, so an
 * OpenAI-compatible server that adds or omits optional fields still decodes.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A content part of a message (`{ type: "text", text }`, an image, audio…):
 * passed through as given.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ContentPart = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * A tool call of an assistant message; `arguments` is JSON as text.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ToolCall = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("function"),
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
})

/**
 * @since 0.1.0
 * @category Models
 */
export type ToolCall = typeof ToolCall.Type

/**
 * One message of the conversation.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const Message = Schema.Struct({
  role: Schema.Literal("developer", "system", "user", "assistant", "tool"),
  content: Schema.NullOr(Schema.Union(Schema.String, Schema.Array(ContentPart))),
  name: Schema.optional(Schema.String),
  tool_call_id: Schema.optional(Schema.String),
  tool_calls: Schema.optional(Schema.Array(ToolCall))
})

/**
 * @since 0.1.0
 * @category Models
 */
export type Message = typeof Message.Type

/**
 * A function the model may call.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const Tool = Schema.Struct({
  type: Schema.Literal("function"),
  function: Schema.Struct({
    name: Schema.String,
    description: Schema.optional(Schema.String),
    parameters: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
    strict: Schema.optional(Schema.Boolean)
  })
})

/**
 * The body of `POST /chat/completions`, without `stream` (the client sets it)
 * and with `model` optional (the client's default model fills it in).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ChatCompletionRequest = Schema.Struct({
  model: Schema.optional(Schema.NonEmptyString),
  messages: Schema.NonEmptyArray(Message),
  max_completion_tokens: Schema.optional(Schema.Int.pipe(Schema.positive())),
  max_tokens: Schema.optional(Schema.Int.pipe(Schema.positive())),
  temperature: Schema.optional(Schema.Number.pipe(Schema.between(0, 2))),
  top_p: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  n: Schema.optional(Schema.Int.pipe(Schema.between(1, 128))),
  stop: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String))),
  presence_penalty: Schema.optional(Schema.Number.pipe(Schema.between(-2, 2))),
  frequency_penalty: Schema.optional(Schema.Number.pipe(Schema.between(-2, 2))),
  seed: Schema.optional(Schema.Int),
  response_format: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  tools: Schema.optional(Schema.Array(Tool)),
  tool_choice: Schema.optional(
    Schema.Union(
      Schema.Literal("none", "auto", "required"),
      Schema.Struct({ type: Schema.Literal("function"), function: Schema.Struct({ name: Schema.String }) })
    )
  ),
  parallel_tool_calls: Schema.optional(Schema.Boolean),
  /** Streams only: `{ include_usage: true }` adds a last chunk with the usage. */
  stream_options: Schema.optional(Schema.Struct({ include_usage: Schema.optional(Schema.Boolean) })),
  user: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type ChatCompletionRequest = typeof ChatCompletionRequest.Type

/**
 * Token counts of a completion.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const Usage = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  total_tokens: Schema.Number
})

/**
 * @since 0.1.0
 * @category Schemas
 */
export const AssistantMessage = Schema.Struct({
  role: Schema.Literal("assistant"),
  content: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  refusal: Schema.optional(Schema.NullOr(Schema.String)),
  tool_calls: Schema.optional(Schema.Array(ToolCall))
})

/**
 * The JSON answer of a non-streaming request.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ChatCompletion = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("chat.completion"),
  created: Schema.Number,
  model: Schema.String,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Number,
    message: AssistantMessage,
    finish_reason: Schema.NullOr(Schema.String)
  })),
  usage: Schema.optional(Usage),
  system_fingerprint: Schema.optional(Schema.NullOr(Schema.String))
})

/**
 * @since 0.1.0
 * @category Models
 */
export type ChatCompletion = typeof ChatCompletion.Type

/**
 * A fragment of a tool call in a stream: `arguments` arrive in pieces to
 * concatenate per `index`.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ToolCallDelta = Schema.Struct({
  index: Schema.Number,
  id: Schema.optional(Schema.String),
  type: Schema.optional(Schema.Literal("function")),
  function: Schema.optional(Schema.Struct({
    name: Schema.optional(Schema.String),
    arguments: Schema.optional(Schema.String)
  }))
})

/**
 * One `data:` event of a streamed completion.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ChatCompletionChunk = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("chat.completion.chunk"),
  created: Schema.Number,
  model: Schema.String,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Number,
    delta: Schema.Struct({
      role: Schema.optional(Schema.String),
      content: Schema.optional(Schema.NullOr(Schema.String)),
      refusal: Schema.optional(Schema.NullOr(Schema.String)),
      tool_calls: Schema.optional(Schema.Array(ToolCallDelta))
    }),
    finish_reason: Schema.optional(Schema.NullOr(Schema.String))
  })),
  usage: Schema.optional(Schema.NullOr(Usage))
})

/**
 * @since 0.1.0
 * @category Models
 */
export type ChatCompletionChunk = typeof ChatCompletionChunk.Type

/**
 * OpenAI's error envelope, on every non-2xx answer and as a mid-stream event.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ErrorEnvelope = Schema.Struct({
  error: Schema.Struct({
    message: Schema.String,
    type: Schema.optional(Schema.NullOr(Schema.String)),
    param: Schema.optional(Schema.NullOr(Schema.String)),
    code: Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Number)))
  })
})

/**
 * @since 0.1.0
 * @category Models
 */
export type ErrorEnvelope = typeof ErrorEnvelope.Type
