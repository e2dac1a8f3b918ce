/**
 * Ollama's wire formats for the emulator: request schemas, reading a body the
 * way Ollama's Go handlers do (and failing with their texts), and the error
 * answers of the native (`{"error": "..."}`) and OpenAI-compatible APIs.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/** The 503 of a full scheduler queue, to the letter (two spaces after the first period). */
export const busyMessage = "server busy, please try again.  maximum pending requests exceeded"

export const runnerStoppedMessage =
  "model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, check ollama server logs for details"

/** An answer Ollama gives as an error: its status and its text. */
export class OllamaFailure extends Data.TaggedError("OllamaFailure")<{
  readonly status: number
  readonly error: string
}> {}

// Go's decoder takes null for any field: read it as absent.
const opt = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { nullable: true })

const ModelOptions = Schema.Struct({
  num_predict: opt(Schema.Number),
  seed: opt(Schema.Number),
  temperature: opt(Schema.Number)
})

const KeepAlive = Schema.Union(Schema.Number, Schema.String)

export const GenerateRequest = Schema.Struct({
  model: opt(Schema.String),
  prompt: opt(Schema.String),
  suffix: opt(Schema.String),
  system: opt(Schema.String),
  template: opt(Schema.String),
  context: opt(Schema.Array(Schema.Number)),
  stream: opt(Schema.Boolean),
  raw: opt(Schema.Boolean),
  format: opt(Schema.Unknown),
  images: opt(Schema.Array(Schema.String)),
  options: opt(ModelOptions),
  keep_alive: opt(KeepAlive)
})
export type GenerateRequest = typeof GenerateRequest.Type

export const Message = Schema.Struct({
  role: Schema.String,
  content: opt(Schema.String),
  images: opt(Schema.Array(Schema.String))
})

export const ChatRequest = Schema.Struct({
  model: opt(Schema.String),
  messages: opt(Schema.Array(Message)),
  tools: opt(Schema.Array(Schema.Unknown)),
  stream: opt(Schema.Boolean),
  format: opt(Schema.Unknown),
  options: opt(ModelOptions),
  keep_alive: opt(KeepAlive)
})
export type ChatRequest = typeof ChatRequest.Type

export const OpenAiChatRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Schema.Struct({ role: Schema.String, content: opt(Schema.Unknown) })),
  stream: opt(Schema.Boolean),
  max_tokens: opt(Schema.Number),
  seed: opt(Schema.Number)
})
export type OpenAiChatRequest = typeof OpenAiChatRequest.Type

const goKind = (value: unknown) =>
  value === null
    ? "null"
    : Array.isArray(value)
    ? "array"
    : typeof value === "object"
    ? "object"
    : typeof value === "boolean"
    ? "bool"
    : typeof value

/** Go's `encoding/json` texts for a syntax error, near enough: the offending character or an early end. */
const syntaxError = (text: string, error: unknown) => {
  const at = /position (\d+)/.exec(String(error))
  const char = at === null ? undefined : text.charAt(Number(at[1]))
  return char === undefined || char === ""
    ? "unexpected EOF"
    : `invalid character '${char}' looking for beginning of value`
}

/**
 * The body decoded with `schema`; fails as Ollama does: 400 `missing request
 * body`, a JSON syntax error, or `json: cannot unmarshal <kind> into Go struct
 * field <Struct>.<field> ...`.
 */
export const decodeBody = <A, I>(schema: Schema.Schema<A, I>, struct: string) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const text = yield* Effect.orElseSucceed(request.text, () => "")
    if (text.trim() === "") return yield* new OllamaFailure({ status: 400, error: "missing request body" })
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (error) {
      return yield* new OllamaFailure({ status: 400, error: syntaxError(text, error) })
    }
    const decoded = Schema.decodeUnknownEither(schema)(json)
    if (Either.isRight(decoded)) return decoded.right
    const [issue] = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
    const path = issue?.path ?? []
    let value: unknown = json
    for (const key of path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key]
    const field = path.length === 0 ? struct : `${struct}.${path.join(".")}`
    return yield* new OllamaFailure({
      status: 400,
      error: path.length === 0
        ? `json: cannot unmarshal ${goKind(value)} into Go value of type api.${struct}`
        : `json: cannot unmarshal ${goKind(value)} into Go struct field ${field}`
    })
  })

/** Gin's `c.JSON`: compact JSON, `application/json; charset=utf-8`. */
export const json = (body: unknown, status = 200) =>
  HttpServerResponse.text(JSON.stringify(body), { status, contentType: "application/json; charset=utf-8" })

const statusTexts: Record<number, string> = {
  400: "bad request",
  401: "unauthorized",
  403: "forbidden",
  408: "request timeout",
  429: "too many requests",
  500: runnerStoppedMessage,
  502: "bad gateway",
  503: busyMessage,
  504: "gateway timeout"
}

/** The error text Ollama would give for a status injected by the fault timeline. */
export const textOf = (status: number) => statusTexts[status] ?? `status ${status}`

/** A native error answer; a 404 outside the routes is gin's plain `404 page not found`. */
export const nativeError = (status: number, error: string) => json({ error }, status)

export const routeNotFound = HttpServerResponse.text("404 page not found", { status: 404, contentType: "text/plain" })

/** The `/v1/*` error envelope; its `type` follows the status as Ollama's middleware chooses it. */
export const openAiError = (status: number, message: string) =>
  json({
    error: {
      message,
      type: status === 400 ? "invalid_request_error" : status === 404 ? "not_found_error" : "api_error",
      param: null,
      code: null
    }
  }, status)
