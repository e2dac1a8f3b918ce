/**
 * The wire format of the Orpheus music-model services
 * (tobert/halfremembered-models, `POST /predict`), and the errors only the
 * Orpheus client has (a refused input, a busy GPU); a call refused before
 * sending is the shared `ClientErrors.InvalidInput`.
 *
 * Request bodies are written in the services' own snake_case; responses are
 * decoded into camelCase values with the MIDI already turned back into bytes.
 * Both server generations are read: v2 puts its tracing info under `meta`
 * (possibly `null`), v1 under `metadata` (omitted when empty).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/**
 * The model of each Orpheus service (one service per port).
 *
 * @since 0.1.0
 * @category Models
 */
export const Model = Schema.Literal("base", "classifier", "bridge", "loops", "children", "mono_melodies")

/**
 * @since 0.1.0
 * @category Models
 */
export type Model = typeof Model.Type

/**
 * The models whose service answers `generate` and `continue`.
 *
 * @since 0.1.0
 * @category Models
 */
export const GeneratorModel = Schema.Literal("base", "children", "mono_melodies")

/**
 * @since 0.1.0
 * @category Models
 */
export type GeneratorModel = typeof GeneratorModel.Type

/**
 * The body of `generate`, `generate_seeded` and `continue` (orpheus-base,
 * -children, -mono). `model` is ignored by the per-port services but sent, as
 * hootenanny does, so a single multi-model service can route on it.
 *
 * @since 0.1.0
 * @category Requests
 */
export const GenerateBody = Schema.Struct({
  task: Schema.Literal("generate", "generate_seeded", "continue"),
  model: GeneratorModel,
  midi_input: Schema.optional(Schema.String),
  temperature: Schema.Number,
  top_p: Schema.Number,
  max_tokens: Schema.Int,
  num_variations: Schema.Int,
  client_job_id: Schema.optional(Schema.String)
})

/**
 * The body of orpheus-bridge: no `num_variations`, always one variation.
 *
 * @since 0.1.0
 * @category Requests
 */
export const BridgeBody = Schema.Struct({
  section_a: Schema.String,
  section_b: Schema.optional(Schema.String),
  temperature: Schema.Number,
  top_p: Schema.Number,
  max_tokens: Schema.Int,
  client_job_id: Schema.optional(Schema.String)
})

/**
 * The body of orpheus-loops. The seed goes under `seed_midi`, the key both
 * server generations read (hootenanny's `seed` was silently ignored).
 *
 * @since 0.1.0
 * @category Requests
 */
export const LoopsBody = Schema.Struct({
  seed_midi: Schema.optional(Schema.String),
  temperature: Schema.Number,
  top_p: Schema.Number,
  max_tokens: Schema.Int,
  num_variations: Schema.Int,
  client_job_id: Schema.optional(Schema.String)
})

/**
 * The body of orpheus-classifier.
 *
 * @since 0.1.0
 * @category Requests
 */
export const ClassifyBody = Schema.Struct({
  midi_input: Schema.String,
  client_job_id: Schema.optional(Schema.String)
})

/**
 * Tracing info a service echoes (`meta` in v2, `metadata` in v1).
 *
 * @since 0.1.0
 * @category Responses
 */
export const Meta = Schema.Struct({
  service: Schema.optional(Schema.String),
  traceId: Schema.optional(Schema.String).pipe(Schema.fromKey("trace_id")),
  spanId: Schema.optional(Schema.String).pipe(Schema.fromKey("span_id")),
  clientJobId: Schema.optional(Schema.String).pipe(Schema.fromKey("client_job_id"))
})

/**
 * @since 0.1.0
 * @category Responses
 */
export type Meta = typeof Meta.Type

/**
 * One generated piece: a complete Standard MIDI File and the tokens it took.
 *
 * @since 0.1.0
 * @category Responses
 */
export const Variation = Schema.Struct({
  /** The Standard MIDI File, decoded from the response's standard base64. */
  midi: Schema.propertySignature(Schema.Uint8ArrayFromBase64).pipe(Schema.fromKey("midi_base64")),
  /** At most `max_tokens`; fewer when the model sampled its end-of-sequence token. */
  numTokens: Schema.propertySignature(Schema.NonNegativeInt).pipe(Schema.fromKey("num_tokens"))
})

/**
 * @since 0.1.0
 * @category Responses
 */
export type Variation = typeof Variation.Type

/**
 * The answer of every generator (base, children, mono, bridge, loops).
 * `variations` is required: hootenanny fails a job without it, and so does
 * this client (a `MalformedResponse`).
 *
 * @since 0.1.0
 * @category Responses
 */
export const GenerationResponse = Schema.Struct({
  task: Schema.String,
  variations: Schema.Array(Variation),
  meta: Schema.optional(Schema.NullOr(Meta)),
  metadata: Schema.optional(Schema.NullOr(Meta))
})

/**
 * What a generation call returns.
 *
 * @since 0.1.0
 * @category Responses
 */
export interface Generation {
  /** The task the service ran (`generate`, `continue`, `bridge`, `loops`, ...). */
  readonly task: string
  /** In the order generated; exactly one for bridge. */
  readonly variations: ReadonlyArray<Variation>
  /** The `client_job_id` this call sent (the caller's, or the one the client generated). */
  readonly clientJobId: string
  /** What the service echoed (v2 `meta`, v1 `metadata`), when it sent any. */
  readonly meta: Meta | undefined
}

/**
 * The classifier's verdict.
 *
 * @since 0.1.0
 * @category Responses
 */
export const ClassificationResponse = Schema.Struct({
  classification: Schema.Struct({
    isHuman: Schema.propertySignature(Schema.Boolean).pipe(Schema.fromKey("is_human")),
    confidence: Schema.Number,
    probabilities: Schema.Struct({ human: Schema.Number, ai: Schema.Number })
  }),
  /** Absent from v1 answers. */
  numTokens: Schema.optional(Schema.NonNegativeInt).pipe(Schema.fromKey("num_tokens")),
  meta: Schema.optional(Schema.NullOr(Meta)),
  metadata: Schema.optional(Schema.NullOr(Meta))
})

/**
 * What `classify` returns.
 *
 * @since 0.1.0
 * @category Responses
 */
export interface Classification {
  readonly isHuman: boolean
  readonly confidence: number
  readonly probabilities: { readonly human: number; readonly ai: number }
  readonly numTokens: number | undefined
  readonly clientJobId: string
  readonly meta: Meta | undefined
}

/**
 * `GET /health` of a v2 service (`{"status": "ok", "service", "version"}`).
 * v1 LitServe answers a plain `ok`, which the client reads as `{ status: "ok" }`.
 *
 * @since 0.1.0
 * @category Responses
 */
export const Health = Schema.Struct({
  status: Schema.String,
  service: Schema.optional(Schema.String),
  version: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category Responses
 */
export type Health = typeof Health.Type

/**
 * One entry of FastAPI's 422 `detail` list.
 *
 * @since 0.1.0
 * @category Responses
 */
export const ValidationIssue = Schema.Struct({
  type: Schema.optional(Schema.String),
  loc: Schema.optional(Schema.Array(Schema.Union(Schema.String, Schema.Number))),
  msg: Schema.String
})

/**
 * @since 0.1.0
 * @category Responses
 */
export type ValidationIssue = typeof ValidationIssue.Type

/**
 * A 422 body: FastAPI's `{"detail": [issues]}` or a handler's `{"detail": "message"}`.
 *
 * @since 0.1.0
 * @category Responses
 */
export const UnprocessableBody = Schema.Struct({
  detail: Schema.Union(Schema.String, Schema.Array(ValidationIssue))
})

/**
 * The service refused the input (HTTP 422): FastAPI's validation list or a
 * handler's message (`continue requires midi_input`, `Invalid MIDI: ...`).
 * Not retried: the same input gets the same answer.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InputRejected extends Schema.TaggedError<InputRejected>()("InputRejected", {
  service: Schema.String,
  status: Schema.Number,
  /** The `detail` as one line: the message, or each issue as `field: msg`. */
  detail: Schema.String,
  /** The issues of a list `detail`; empty for a string `detail`. */
  issues: Schema.Array(ValidationIssue),
  clientJobId: Schema.optional(Schema.String)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    const job = this.clientJobId === undefined ? "" : ` (client_job_id ${this.clientJobId})`
    return `${this.service} rejected the request (HTTP ${this.status})${job}: ${this.detail}`
  }
}

const seconds = (duration: Duration.Duration): string => {
  const millis = Duration.toMillis(duration)
  return millis % 1000 === 0 ? `${millis / 1000}s` : `${(millis / 1000).toFixed(3).replace(/0+$/, "")}s`
}

/**
 * The GPU stayed busy (HTTP 429 "GPU busy", or a busy 503) until the client
 * gave up: the deadline would pass during the next wait, or too many busy
 * answers came in a row. `retryAfter` is what the server asked for last.
 * The message reads as hootenanny's job error, with the job id:
 * `GPU busy, retry after 30s (client_job_id job-7, orpheus-base, 4 attempts: ...)`.
 *
 * @since 0.1.0
 * @category Errors
 */
export class GpuBusy extends Schema.TaggedError<GpuBusy>()("GpuBusy", {
  service: Schema.String,
  clientJobId: Schema.String,
  /** The server's last Retry-After (or the client's default when it sent none). */
  retryAfter: Schema.DurationFromMillis,
  /** Requests sent, the busy ones included. */
  attempts: Schema.Number,
  /** Why the client stopped waiting. */
  reason: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `GPU busy, retry after ${
      seconds(this.retryAfter)
    } (client_job_id ${this.clientJobId}, ${this.service}, ${this.attempts} attempt${
      this.attempts === 1 ? "" : "s"
    }: ${this.reason})`
  }
}
