/**
 * OpenAI's wire formats for the emulator: the request schema of
 * `/v1/chat/completions`, reading a body and refusing it with OpenAI's 400
 * texts, the error envelope, and Server-Sent Events.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/** An answer OpenAI gives as an error: its status and the fields of its envelope. */
export class OpenAiFailure extends Data.TaggedError("OpenAiFailure")<{
  readonly status: number
  readonly message: string
  readonly type: string
  readonly param: string | null
  readonly code: string | null
  readonly headers?: Readonly<Record<string, string>> | undefined
}> {}

const invalidRequest = (message: string, param: string | null, code: string | null) =>
  new OpenAiFailure({ status: 400, message, type: "invalid_request_error", param, code })

// The SDKs send null for unset fields: read it as absent.
const opt = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { nullable: true })

const ContentPart = Schema.Struct({ type: Schema.String, text: opt(Schema.String) })

export const Message = Schema.Struct({
  role: Schema.String,
  content: opt(Schema.Union(Schema.String, Schema.Array(ContentPart))),
  name: opt(Schema.String),
  tool_call_id: opt(Schema.String),
  tool_calls: opt(Schema.Array(Schema.Unknown))
})
export type Message = typeof Message.Type

export const Tool = Schema.Struct({
  type: Schema.Literal("function"),
  function: Schema.Struct({
    name: Schema.String,
    description: opt(Schema.String),
    parameters: opt(Schema.Unknown),
    strict: opt(Schema.Boolean)
  })
})
export type Tool = typeof Tool.Type

const ToolChoice = Schema.Union(
  Schema.Literal("none", "auto", "required"),
  Schema.Struct({ type: Schema.Literal("function"), function: Schema.Struct({ name: Schema.String }) })
)

export const ChatRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Message),
  stream: opt(Schema.Boolean),
  stream_options: opt(Schema.Struct({ include_usage: opt(Schema.Boolean) })),
  max_completion_tokens: opt(Schema.Int),
  max_tokens: opt(Schema.Int),
  temperature: opt(Schema.Number),
  top_p: opt(Schema.Number),
  n: opt(Schema.Int),
  stop: opt(Schema.Union(Schema.String, Schema.Array(Schema.String))),
  seed: opt(Schema.Int),
  presence_penalty: opt(Schema.Number),
  frequency_penalty: opt(Schema.Number),
  tools: opt(Schema.Array(Tool)),
  tool_choice: opt(ToolChoice),
  user: opt(Schema.String)
})
export type ChatRequest = typeof ChatRequest.Type

export const roles: ReadonlyArray<string> = ["system", "assistant", "user", "function", "tool", "developer"]

const expected: Record<string, string> = {
  model: "a string",
  messages: "an array",
  stream: "a boolean",
  stream_options: "an object",
  max_completion_tokens: "an integer",
  max_tokens: "an integer",
  n: "an integer",
  seed: "an integer",
  temperature: "a decimal",
  top_p: "a decimal",
  presence_penalty: "a decimal",
  frequency_penalty: "a decimal",
  stop: "one of a string or array of strings",
  tools: "an array",
  tool_choice: "one of a string or object",
  user: "a string",
  role: "a string",
  content: "one of a string or array of objects"
}

const kind = (value: unknown) =>
  value === null
    ? "null"
    : Array.isArray(value)
    ? "an array"
    : typeof value === "object"
    ? "an object"
    : typeof value === "number"
    ? Number.isInteger(value) ? "an integer" : "a decimal"
    : typeof value === "boolean"
    ? "a boolean"
    : "a string"

/** `messages[0].role`, as OpenAI names a nested parameter. */
const paramOf = (path: ReadonlyArray<PropertyKey>) =>
  path.reduce<string>(
    (name, key) => typeof key === "number" ? `${name}[${key}]` : name === "" ? String(key) : `${name}.${String(key)}`,
    ""
  )

/** OpenAI's text for a body that is not JSON. */
export const unparsableBody =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"

const range = (param: string, value: number | undefined, min: number, max: number, integer: boolean) => {
  if (value === undefined) return undefined
  const what = integer ? "integer" : "decimal"
  if (value < min) {
    return invalidRequest(
      `Invalid '${param}': ${what} below minimum value. Expected a value >= ${min}, but got ${value} instead.`,
      param,
      `${what}_below_min_value`
    )
  }
  if (value > max) {
    return invalidRequest(
      `Invalid '${param}': ${what} above maximum value. Expected a value <= ${max}, but got ${value} instead.`,
      param,
      `${what}_above_max_value`
    )
  }
  return undefined
}

/** The checks OpenAI makes beyond the types: ranges, roles, a non-empty conversation. */
const check = (body: ChatRequest): OpenAiFailure | undefined => {
  if (body.messages.length === 0) {
    return invalidRequest(
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      "messages",
      "empty_array"
    )
  }
  const badRole = body.messages.findIndex((message) => !roles.includes(message.role))
  if (badRole >= 0) {
    return invalidRequest(
      `Invalid value: '${
        body.messages[badRole]!.role
      }'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
      `messages[${badRole}].role`,
      "invalid_value"
    )
  }
  if (body.stream_options !== undefined && body.stream !== true) {
    return invalidRequest(
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      "stream_options",
      null
    )
  }
  return range("temperature", body.temperature, 0, 2, false) ??
    range("top_p", body.top_p, 0, 1, false) ??
    range("presence_penalty", body.presence_penalty, -2, 2, false) ??
    range("frequency_penalty", body.frequency_penalty, -2, 2, false) ??
    range("n", body.n, 1, 128, true) ??
    range("max_tokens", body.max_tokens, 1, Number.MAX_SAFE_INTEGER, true) ??
    range("max_completion_tokens", body.max_completion_tokens, 1, Number.MAX_SAFE_INTEGER, true)
}

/**
 * The text as a chat request, or OpenAI's 400 for it: unparsable JSON, a
 * missing parameter, a wrong type, a value out of range.
 */
export const parseChatRequest = (text: string): Either.Either<ChatRequest, OpenAiFailure> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return Either.left(invalidRequest(unparsableBody, null, null))
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left(invalidRequest(unparsableBody, null, null))
  }
  const decoded = Schema.decodeUnknownEither(ChatRequest, { errors: "first" })(json)
  if (Either.isLeft(decoded)) {
    const [issue] = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
    const path = issue?.path ?? []
    const param = paramOf(path)
    let value: unknown = json
    for (const key of path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key]
    if (issue?._tag === "Missing") {
      return Either.left(invalidRequest(`Missing required parameter: '${param}'.`, param, "missing_required_parameter"))
    }
    const last = path.length === 0 ? "" : String(path[path.length - 1])
    const want = expected[last] ?? "a valid value"
    return Either.left(
      invalidRequest(
        `Invalid type for '${param}': expected ${want}, but got ${kind(value)} instead.`,
        param,
        "invalid_type"
      )
    )
  }
  const failure = check(decoded.right)
  return failure === undefined ? Either.right(decoded.right) : Either.left(failure)
}

/** The request body as a chat request; fails with OpenAI's 400. */
export const decodeChatRequest = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const text = yield* Effect.orElseSucceed(request.text, () => "")
  return yield* parseChatRequest(text)
})

/** A JSON answer, as OpenAI sends it: `application/json`. */
export const json = (body: unknown, status = 200, headers: Readonly<Record<string, string>> = {}) =>
  HttpServerResponse.text(JSON.stringify(body), { status, headers, contentType: "application/json" })

/** The envelope of every non-2xx answer. */
export const errorBody = (
  failure: {
    readonly message: string
    readonly type: string
    readonly param: string | null
    readonly code: string | null
  }
) => ({
  error: { message: failure.message, type: failure.type, param: failure.param, code: failure.code }
})

export const errorResponse = (failure: OpenAiFailure, headers: Readonly<Record<string, string>> = {}) =>
  json(errorBody(failure), failure.status, { ...headers, ...failure.headers })

const encoder = new TextEncoder()

/** One Server-Sent Event carrying a JSON payload: `data: {...}` and a blank line. */
export const sseEvent = (payload: unknown): Uint8Array => encoder.encode(`data: ${JSON.stringify(payload)}\n\n`)

/** The terminator of every completion stream. */
export const sseDone: Uint8Array = encoder.encode("data: [DONE]\n\n")

const statusTexts: Record<number, { message: string; type: string; code: string | null }> = {
  400: { message: "Bad request.", type: "invalid_request_error", code: null },
  401: { message: "Unauthorized.", type: "invalid_request_error", code: null },
  403: { message: "Forbidden.", type: "invalid_request_error", code: null },
  404: { message: "Not found.", type: "invalid_request_error", code: null },
  408: { message: "Request timed out.", type: "timeout", code: null },
  409: { message: "Conflict.", type: "invalid_request_error", code: null },
  429: { message: "Rate limit reached. Please try again later.", type: "requests", code: "rate_limit_exceeded" },
  500: {
    message: "The server had an error while processing your request. Sorry about that!",
    type: "server_error",
    code: null
  },
  502: { message: "Bad gateway.", type: "server_error", code: null },
  503: { message: "The engine is currently overloaded, please try again later.", type: "server_error", code: null },
  504: { message: "Gateway timeout.", type: "server_error", code: null }
}

/** The envelope OpenAI would give for a status the fault timeline injects. */
export const injected = (status: number): OpenAiFailure => {
  const known = statusTexts[status] ??
    { message: `HTTP ${status}.`, type: status >= 500 ? "server_error" : "invalid_request_error", code: null }
  return new OpenAiFailure({ status, message: known.message, type: known.type, param: null, code: known.code })
}

/** The 404 of an unknown route, naming the method and the path as OpenAI does. */
export const invalidUrl = (method: string, path: string): OpenAiFailure =>
  new OpenAiFailure({
    status: 404,
    message: `Invalid URL (${method} ${path})`,
    type: "invalid_request_error",
    param: null,
    code: null
  })
