/**
 * HTTP failures as the core's error families: a middleware over
 * @effect/platform's `HttpClient` that fails non-2xx responses and transport
 * failures with typed errors the core's policies understand.
 *
 * - 429 → `RateLimited`, 503 → `Unavailable` (or `Overloaded`, see
 *   {@link Options.isOverloaded}), other 5xx → `ServerError`, 408 → `TimedOut`,
 *   each with the server's hint as `retryAfter` (see `ServerHints.toError`).
 * - Any other non-2xx response → {@link HttpRejected}: status, headers and a
 *   bounded excerpt of the body; not retryable.
 * - Connection refused, reset, DNS failures → `ConnectionFailed`; transport
 *   timeouts → `TimedOut`; a request that cannot be encoded or has a bad URL →
 *   `Rejected`.
 *
 * - `x-should-retry: true` / `false` on a failed response overrides the
 *   status: retryable (`Unavailable` for a status that is not transient) or
 *   not (`HttpRejected`).
 *
 * A 2xx response passes untouched and its body is never read.
 *
 * @since 0.1.0
 */
import * as Errors from "@bulwark/core/Errors"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as ServerHints from "./ServerHints.js"

/**
 * A response that refused the request (a 4xx other than 408 and 429, or any
 * other status outside 2xx that is not a server failure): retrying it unchanged
 * cannot help, so its tag is not among the core's retryable tags. Unlike the
 * core's `Rejected` it keeps what a person needs to see why: the response
 * headers (credentials redacted) and the start of the body.
 *
 * @since 0.1.0
 * @category Errors
 */
export class HttpRejected extends Schema.TaggedError<HttpRejected>()("HttpRejected", {
  service: Schema.optional(Schema.String),
  status: Schema.Number,
  /** The response headers, lower-case names; credentials are `<redacted>`. */
  headers: Schema.Record({ key: Schema.String, value: Schema.String }),
  /** The first {@link Options.maxExcerpt} bytes of the body, decoded as UTF-8. */
  excerpt: Schema.String,
  /** `true` when the body was longer than the excerpt (or could not be read to its end). */
  truncated: Schema.Boolean,
  detail: Schema.optional(Schema.String)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    const from = this.service === undefined ? "" : ` from ${this.service}`
    const detail = this.detail === undefined ? "" : `: ${this.detail}`
    const body = this.excerpt === "" ? "" : `: ${oneLine(this.excerpt, 200)}`
    return `rejected${from} (HTTP ${this.status})${detail}${body}`
  }
}

/**
 * What the middleware fails with.
 *
 * @since 0.1.0
 * @category Errors
 */
export type Failure = Errors.Transient | Errors.Rejected | HttpRejected

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options<E = never> extends ServerHints.Options {
  /** Named in every error's `service`. */
  readonly service?: string | undefined
  /**
   * How many bytes of a failed response's body to keep. Default
   * {@link defaults.maxExcerpt}; 0 reads no body at all.
   */
  readonly maxExcerpt?: number | undefined
  /**
   * Whether a 5xx response means "up, but the queue is full": it then fails
   * with `Overloaded` instead of `Unavailable` / `ServerError`. See
   * {@link isOllamaBusy}.
   */
  readonly isOverloaded?: ((response: HttpClientResponse.HttpClientResponse, excerpt: string) => boolean) | undefined
  /**
   * Whether the `x-should-retry` response header (the OpenAI and Anthropic
   * SDKs' convention) decides over the status: `true` makes any failed
   * response retryable, `false` makes it an {@link HttpRejected}. Default `true`.
   */
  readonly shouldRetryHeader?: boolean | undefined
  /**
   * A per-service override, consulted for every non-2xx response before the
   * defaults: `Option.some(error)` fails with that error, `Option.none()` lets
   * the response through as a success (a 404 on DELETE: already gone), and
   * `undefined` falls back to the defaults.
   */
  readonly classify?:
    | ((response: HttpClientResponse.HttpClientResponse, excerpt: string) => Option.Option<E> | undefined)
    | undefined
}

/**
 * The defaults of {@link Options}. 2 KiB of body holds the JSON error objects
 * of the services Bulwark targets and is still small enough to log.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  maxExcerpt: 2048
} as const

/**
 * The response behind an error this middleware built, and what its headers
 * said: the hint (`ServerHints.fromHeaders`) and the `x-should-retry` verdict,
 * both with the raw header value, for logs and metrics.
 *
 * @since 0.1.0
 * @category Models
 */
export interface FailedResponse {
  readonly response: HttpClientResponse.HttpClientResponse
  readonly hint: ServerHints.Hint
  readonly shouldRetry: ServerHints.ShouldRetry
}

// Keyed by the error instance: the errors are schema classes that cross wires,
// so the live response stays beside them rather than in a field.
const failedResponses = new WeakMap<object, FailedResponse>()

/**
 * The response a failure of a classified client came from (and its parsed
 * hints), or `undefined` for a transport failure, a local refusal or an error
 * built elsewhere. Its body has been read up to `maxExcerpt` bytes.
 *
 * @since 0.1.0
 * @category Getters
 */
export const failedResponse = (error: unknown): FailedResponse | undefined => {
  // A failure that crossed a span is a proxy of the error this module built.
  const original = Cause.originalError(error)
  return typeof original === "object" && original !== null ? failedResponses.get(original) : undefined
}

/**
 * Headers whose values never reach an error (they become `<redacted>`): the
 * names @effect/platform redacts by default, plus `proxy-authorization`.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const redactedHeaders: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key"
])

/**
 * Ollama's 503 when its pending queue is full ("server busy, please try again.
 * maximum pending requests exceeded"): the server is healthy, so a breaker
 * should not count it as an outage.
 *
 * @since 0.1.0
 * @category Predicates
 */
export const isOllamaBusy = (response: HttpClientResponse.HttpClientResponse, excerpt: string): boolean =>
  response.status === 503 && /server busy/i.test(excerpt)

const timeoutCodes = new Set([
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "TimeoutError"
])

const oneLine = (text: string, max: number): string => {
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length <= max ? flat : `${flat.slice(0, max)}…`
}

/**
 * The messages and codes along an error's `cause` chain (fetch wraps the
 * socket's error: `TypeError: fetch failed` ← `connect ECONNREFUSED ...`).
 */
const causes = (error: unknown) => {
  const messages: Array<string> = []
  const codes: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    const { code, message, name } = current as { code?: unknown; message?: unknown; name?: unknown }
    if (typeof message === "string" && message !== "" && !messages.includes(message)) messages.push(message)
    if (typeof code === "string") codes.push(code)
    if (typeof name === "string") codes.push(name)
    current = (current as { cause?: unknown }).cause
  }
  return { messages, codes }
}

const fromRequestError = (error: HttpClientError.RequestError, service: string | undefined): Failure => {
  const { codes, messages } = causes(error.cause)
  const detail = oneLine([error.message, ...messages].join(": "), 500)
  if (error.reason !== "Transport") return new Errors.Rejected({ service, detail })
  return codes.some((code) => timeoutCodes.has(code))
    ? new Errors.TimedOut({ service, detail })
    : new Errors.ConnectionFailed({ service, detail })
}

/**
 * The first `max` bytes of the body, never failing: an unreadable body is an
 * empty excerpt. Stopping the stream early cancels the rest of the body.
 */
const readExcerpt = (response: HttpClientResponse.HttpClientResponse, max: number) => {
  if (max === 0) return Effect.succeed({ excerpt: "", truncated: false })
  let size = 0
  return response.stream.pipe(
    Stream.takeUntil((chunk) => (size += chunk.length) >= max),
    Stream.runCollect,
    Effect.map((chunks) => {
      const bytes = new Uint8Array(Math.min(size, max))
      let offset = 0
      for (const chunk of Chunk.toReadonlyArray(chunks)) {
        if (offset >= bytes.length) break
        const part = chunk.subarray(0, bytes.length - offset)
        bytes.set(part, offset)
        offset += part.length
      }
      // `stream: true` holds back a multi-byte character cut at the end.
      return { excerpt: new TextDecoder().decode(bytes, { stream: true }), truncated: size > max }
    }),
    Effect.orElseSucceed(() => ({ excerpt: "", truncated: size > 0 }))
  )
}

const plainHeaders = (response: HttpClientResponse.HttpClientResponse): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(response.headers)) {
    out[name] = redactedHeaders.has(name.toLowerCase()) ? "<redacted>" : value
  }
  return out
}

const checkOptions = (options: Options<unknown>): Either.Either<number, Errors.InvalidPolicy> => {
  const invalid = (field: string, value: unknown, expected: string) =>
    Either.left(new Errors.InvalidPolicy({ policy: "http-failures", field, value: String(value), expected }))
  const maxExcerpt = options.maxExcerpt ?? defaults.maxExcerpt
  if (!Number.isInteger(maxExcerpt) || maxExcerpt < 0) return invalid("maxExcerpt", maxExcerpt, "an integer ≥ 0")
  if (options.service !== undefined && (typeof options.service !== "string" || options.service === "")) {
    return invalid("service", options.service, "a non-empty string")
  }
  if (options.shouldRetryHeader !== undefined && typeof options.shouldRetryHeader !== "boolean") {
    return invalid("shouldRetryHeader", options.shouldRetryHeader, "a boolean")
  }
  for (const field of ["isOverloaded", "classify"] as const) {
    if (options[field] !== undefined && typeof options[field] !== "function") {
      return invalid(field, options[field], "a function")
    }
  }
  return Either.right(maxExcerpt)
}

/**
 * What {@link classify} builds: a function from a client to the classified client.
 *
 * @since 0.1.0
 * @category Models
 */
export type Middleware<E = never> = <E0, R>(
  client: HttpClient.HttpClient.With<E0, R>
) => HttpClient.HttpClient.With<Exclude<E0, HttpClientError.HttpClientError> | Failure | E, R>

/**
 * The middleware, checked: invalid options give `InvalidPolicy` here, when the
 * client is built, never while it runs. The result is an `Either`, yieldable in
 * `Effect.gen`: `client.pipe(yield* HttpFailures.classify({ service: "ollama" }))`.
 *
 * @since 0.1.0
 * @category Middleware
 */
export const classify = <E = never>(
  options: Options<E> = {}
): Either.Either<Middleware<E>, Errors.InvalidPolicy> =>
  Either.map(checkOptions(options), (maxExcerpt) => middleware(options, maxExcerpt))

const middleware = <E>(options: Options<E>, maxExcerpt: number): Middleware<E> => {
  const { isOverloaded, service } = options
  const override = options.classify
  const honourShouldRetry = options.shouldRetryHeader ?? true

  const failed = (
    response: HttpClientResponse.HttpClientResponse
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, Failure | E> =>
    Effect.gen(function*() {
      const { excerpt, truncated } = yield* readExcerpt(response, maxExcerpt)
      const verdict = override?.(response, excerpt)
      const now = yield* Clock.currentTimeMillis
      const hint = ServerHints.fromHeaders(response.headers, now, options)
      const should = honourShouldRetry
        ? ServerHints.shouldRetry(response.headers[ServerHints.headerNames.shouldRetry])
        : ServerHints.none
      const facts: FailedResponse = { response, hint, shouldRetry: should }
      if (verdict !== undefined) {
        if (Option.isNone(verdict)) return response
        if (typeof verdict.value === "object" && verdict.value !== null) failedResponses.set(verdict.value, facts)
        return yield* Effect.fail(verdict.value)
      }
      const error = decide(response, excerpt, truncated, now, facts)
      failedResponses.set(error, facts)
      return yield* Effect.fail(error)
    })

  const decide = (
    response: HttpClientResponse.HttpClientResponse,
    excerpt: string,
    truncated: boolean,
    now: number,
    { hint, shouldRetry: should }: FailedResponse
  ): Failure => {
    const forced = should._tag === "Force" ? `x-should-retry: ${should.retry}` : undefined
    const ignored = should._tag === "Invalid"
      ? `ignored x-should-retry "${oneLine(should.raw, 64)}" (${should.reason})`
      : undefined
    const error = ServerHints.toError(response.status, response.headers, now, {
      service,
      maxHint: options.maxHint,
      detail: forced ?? ignored
    })
    const rejected = () =>
      new HttpRejected({
        service,
        status: response.status,
        headers: plainHeaders(response),
        excerpt,
        truncated,
        detail: error.detail
      })
    if (should._tag === "Force" && !should.retry) return rejected()
    if (error._tag === "Rejected") {
      if (should._tag !== "Force") return rejected()
      // The server says a retry can succeed although the status says otherwise
      // (OpenAI's 409 lock timeouts): it did not process the request, as with a 503.
      return new Errors.Unavailable({
        service,
        status: response.status,
        detail: error.detail,
        retryAfter: hint._tag === "Delay" ? hint.retryAfter : undefined
      })
    }
    if (response.status >= 500 && isOverloaded?.(response, excerpt) === true) {
      const { retryAfter, status } = error
      return new Errors.Overloaded({ service, status, retryAfter, detail: error.detail ?? oneLine(excerpt, 200) })
    }
    return error
  }

  const onResponse = (
    response: HttpClientResponse.HttpClientResponse
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, Failure | E> =>
    response.status >= 200 && response.status < 300 ? Effect.succeed(response) : failed(response)

  const onError = <E0>(
    error: E0
  ): Effect.Effect<
    HttpClientResponse.HttpClientResponse,
    Exclude<E0, HttpClientError.HttpClientError> | Failure | E
  > => {
    if (!HttpClientError.isHttpClientError(error)) {
      return Effect.fail(error as Exclude<E0, HttpClientError.HttpClientError>)
    }
    if (error._tag === "RequestError") return Effect.fail(fromRequestError(error, service))
    // A ResponseError from a middleware below: `filterStatusOk` refused a status
    // (classified like any response), or a body could not be decoded (the
    // server's fault, so a ServerError).
    if (error.reason === "StatusCode") return failed(error.response)
    const { status } = error.response
    return Effect.fail(new Errors.ServerError({ service, status, detail: oneLine(error.message, 500) }))
  }

  return <E0, R>(
    client: HttpClient.HttpClient.With<E0, R>
  ): HttpClient.HttpClient.With<Exclude<E0, HttpClientError.HttpClientError> | Failure | E, R> =>
    HttpClient.transformResponse(
      client,
      Effect.matchEffect({ onFailure: (error: E0) => onError(error), onSuccess: onResponse })
    )
}
