/**
 * A resilient HTTP client for one service: @effect/platform's `HttpClient`,
 * classified by `HttpFailures`, with the core's `Policy` (retry with
 * Retry-After, budget, breaker, gate, limiters, timeouts) around every request.
 *
 * One `make` is one service: the breaker, budget and limiters it builds are
 * shared by every request through that client, so build it once per service
 * (in a Layer, or at the start of the program) and pass it around.
 *
 * Per request: an idempotency key (`Idempotency-Key` header), a
 * `client_job_id` (JSON body field) or the caller's word that the request is
 * safe to repeat (`idempotent`), a timeout for each attempt, and a request id
 * sent as `x-request-id` and put in every log line and the span.
 * Non-idempotent requests (POST, PATCH) with none of the three are not
 * retried after an ambiguous failure, one after which the server may have
 * acted on them.
 *
 * @since 0.1.0
 */
import * as Classify from "@bulwark/core/Classify"
import * as Errors from "@bulwark/core/Errors"
import * as Policy from "@bulwark/core/Policy"
import * as Retry from "@bulwark/core/Retry"
import * as Timeout from "@bulwark/core/Timeout"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as HttpFailures from "./HttpFailures.js"
import { observer, redactedUrl } from "./internal/observe.js"

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options<E = never> {
  /** Names the service in every error, log line, span and metric. Required. */
  readonly service: string
  /**
   * The policy: options for `Policy.make` (without `service`), or a policy
   * already built (to share it with other callers). Default
   * `Policy.standard(service)`.
   */
  readonly policy?: Omit<Policy.Options, "service"> | Policy.Policy | undefined
  /** Options of `HttpFailures.classify` (its `service` is this client's). */
  readonly classify?: Omit<HttpFailures.Options<E>, "service"> | undefined
}

/**
 * The options of one logical request (all its attempts).
 *
 * @since 0.1.0
 * @category Options
 */
export interface RequestOptions {
  /**
   * Sent as `Idempotency-Key` on every attempt; makes a POST or PATCH safe to
   * retry after an ambiguous failure. A request that already carries the
   * header counts as keyed too.
   */
  readonly idempotencyKey?: string | undefined
  /**
   * Written into the request's JSON object body as `client_job_id` (Orpheus,
   * see {@link withClientJobId}); makes the request safe to retry like an
   * idempotency key.
   */
  readonly clientJobId?: string | undefined
  /**
   * `true`: the caller declares the request safe to repeat whatever its
   * method (a POST that only computes, such as a generation or a search), so
   * it is retried after an ambiguous failure like a GET, without sending
   * anything more. `false` or absent: the method, the key and the job id
   * decide.
   */
  readonly idempotent?: boolean | undefined
  /** The timeout of each attempt of this request, instead of the policy's `attemptTimeout`. */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * The request id (`x-request-id`). Default: the request's own `x-request-id`
   * header, else 32 hex digits from Effect's `Random`.
   */
  readonly requestId?: string | undefined
}

/**
 * What a request through the client can fail with.
 *
 * @since 0.1.0
 * @category Models
 */
export type Failure<E = never> =
  | Policy.Failure<HttpFailures.Failure | E>
  | Errors.InvalidPolicy

/**
 * @since 0.1.0
 * @category Models
 */
export interface ResilientClient<E = never> {
  readonly service: string
  readonly policy: Policy.Policy
  /** The classified client without the policy, for a request that must not be retried or limited. */
  readonly classified: HttpClient.HttpClient.With<HttpFailures.Failure | E>
  /**
   * Runs one logical request through the policy. Every attempt sends the
   * same request: the same headers, key and request id.
   */
  readonly execute: (
    request: HttpClientRequest.HttpClientRequest,
    options?: RequestOptions
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, Failure<E>>
}

/**
 * Header names this module writes.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const headerNames = {
  idempotencyKey: "idempotency-key",
  requestId: "x-request-id"
} as const

/**
 * Methods that RFC 9110 §9.2.2 calls idempotent: repeating them has the effect
 * of sending them once, so they are retried after any retryable failure.
 *
 * @since 0.1.0
 * @category Predicates
 */
export const idempotentMethods: ReadonlySet<HttpClientRequest.HttpClientRequest["method"]> = new Set<
  HttpClientRequest.HttpClientRequest["method"]
>([
  "GET",
  "HEAD",
  "PUT",
  "DELETE",
  "OPTIONS"
])

// A connection that never opened (the codes, and undici's connect timeout message): nothing was sent.
const neverSent =
  /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|UND_ERR_CONNECT_TIMEOUT)\b|connect timeout/i

/**
 * Whether a failure leaves open if the server acted on the request: a timeout
 * or a dropped connection after the request may have been sent, or a 5xx
 * other than 503 (the server, or a gateway, may have started on it). A
 * response that says the request was not processed (429, 503, 408), a
 * connection that never opened (refused, DNS) and a local refusal (open
 * breaker, closed gate, full limiter) are not ambiguous.
 *
 * @since 0.1.0
 * @category Predicates
 */
export const isAmbiguous = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null || !("_tag" in error)) return false
  switch (error._tag) {
    case "AttemptTimedOut":
    case "DeadlineExceeded":
    case "ServerError":
      return true
    case "TimedOut":
      return (error as Errors.TimedOut).status === undefined && !neverSent.test((error as Errors.TimedOut).detail ?? "")
    case "ConnectionFailed":
      return !neverSent.test((error as Errors.ConnectionFailed).detail ?? "")
    default:
      return false
  }
}

/**
 * The request with `client_job_id` in its JSON object body (an empty body
 * becomes `{ "client_job_id": id }`). Refused (`Rejected`) when the body is
 * not a JSON object or already names another id.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const withClientJobId = (
  request: HttpClientRequest.HttpClientRequest,
  clientJobId: string,
  service?: string
): Either.Either<HttpClientRequest.HttpClientRequest, Errors.Rejected> => {
  const refuse = (detail: string) => Either.left(new Errors.Rejected({ service, detail }))
  const { body } = request
  let fields: Record<string, unknown> = {}
  if (body._tag === "Uint8Array") {
    try {
      fields = JSON.parse(new TextDecoder().decode(body.body)) as Record<string, unknown>
    } catch {
      return refuse("clientJobId needs a JSON object body")
    }
    if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
      return refuse("clientJobId needs a JSON object body")
    }
  } else if (body._tag !== "Empty") {
    return refuse(`clientJobId needs a JSON object body, not a ${body._tag} body`)
  }
  if (fields.client_job_id !== undefined && fields.client_job_id !== clientJobId) {
    return refuse(`the body already has client_job_id ${JSON.stringify(fields.client_job_id)}`)
  }
  return Either.right(
    HttpClientRequest.setBody(request, HttpBody.unsafeJson({ ...fields, client_job_id: clientJobId }))
  )
}

const hex32 = Effect.map(
  Effect.all([Random.next, Random.next, Random.next, Random.next]),
  (parts) => parts.map((part) => Math.floor(part * 0x1_0000_0000).toString(16).padStart(8, "0")).join("")
)

const invalid = (field: string, value: unknown, expected: string) =>
  new Errors.InvalidPolicy({ policy: "resilient-client", field, value: String(value), expected })

const isPolicy = (policy: Options["policy"]): policy is Policy.Policy =>
  policy !== undefined && typeof (policy as Policy.Policy).protect === "function" &&
  typeof (policy as Policy.Policy).layers === "object"

type Protect = (self: Effect.Effect<any, any, any>) => Effect.Effect<any, any, any>

/**
 * Builds the client of one service over the `HttpClient` in context. Invalid
 * options of the policy or of the classification fail with `InvalidPolicy`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <E = never>(
  options: Options<E>
): Effect.Effect<ResilientClient<E>, Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const { service } = options
    if (typeof service !== "string" || service === "") {
      return yield* invalid("service", service, "a non-empty string")
    }
    const policy = isPolicy(options.policy)
      ? options.policy
      : options.policy === undefined
      ? yield* Policy.standard(service)
      : yield* Policy.make({ ...options.policy, service })
    const classified = (yield* HttpClient.HttpClient).pipe(
      yield* HttpFailures.classify<E>({ ...options.classify, service })
    )
    const { layers } = policy
    // Two retries, built once: the policy's own, and one that declines ambiguous failures.
    const retry = layers.retry
    const keyedRetryOn = retry === undefined ? Classify.isRetryable : retry.retryOn
    const unkeyedRetryOn = (error: unknown) => keyedRetryOn(error) && !isAmbiguous(error)
    const unkeyedLayers: Policy.Layers = retry === undefined
      ? layers
      : { ...layers, retry: { ...retry, retryOn: unkeyedRetryOn } }
    const keyedProtect = policy.protect as Protect
    const unkeyedProtect = Policy.compose(unkeyedLayers) as Protect
    const observe = observer(service)

    const execute = (
      request: HttpClientRequest.HttpClientRequest,
      requestOptions: RequestOptions = {}
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, Failure<E>> =>
      Effect.gen(function*() {
        const { clientJobId, idempotencyKey, idempotent, timeout } = requestOptions
        if (idempotent !== undefined && typeof idempotent !== "boolean") {
          return yield* invalid("idempotent", idempotent, "a boolean")
        }
        let prepared = request
        if (idempotencyKey !== undefined) {
          if (typeof idempotencyKey !== "string" || idempotencyKey === "") {
            return yield* invalid("idempotencyKey", idempotencyKey, "a non-empty string")
          }
          prepared = HttpClientRequest.setHeader(prepared, headerNames.idempotencyKey, idempotencyKey)
        }
        if (clientJobId !== undefined) {
          if (typeof clientJobId !== "string" || clientJobId === "") {
            return yield* invalid("clientJobId", clientJobId, "a non-empty string")
          }
          prepared = yield* withClientJobId(prepared, clientJobId, service)
        }
        const requestId = requestOptions.requestId ?? prepared.headers[headerNames.requestId] ?? (yield* hex32)
        prepared = HttpClientRequest.setHeader(prepared, headerNames.requestId, requestId)
        const keyed = idempotent === true || idempotentMethods.has(prepared.method) || clientJobId !== undefined ||
          prepared.headers[headerNames.idempotencyKey] !== undefined
        let protect = keyed ? keyedProtect : unkeyedProtect
        if (timeout !== undefined) {
          const attemptTimeout = yield* Timeout.attempt(timeout, { service }).pipe(
            Effect.mapError((error) => invalid("timeout", error.value, error.expected))
          )
          protect = Policy.compose({ ...(keyed ? layers : unkeyedLayers), attemptTimeout }) as Protect
        }
        const retryOn = keyed ? keyedRetryOn : unkeyedRetryOn
        const { method } = prepared
        let attempts = 0
        // Re-run by the retry: each run is one attempt.
        const attempt = Effect.suspend(() => observe.attempt(classified.execute(prepared), method, ++attempts, retryOn))
        const url = redactedUrl(prepared.url, prepared.urlParams)
        return yield* (protect(attempt) as Effect.Effect<HttpClientResponse.HttpClientResponse, Failure<E>>).pipe(
          Effect.tapError((error) => observe.gaveUp(error, method, url, attempts, retryOn)),
          Effect.withSpan("ResilientClient.execute", {
            kind: "client",
            attributes: {
              "http.request.method": method,
              "url.full": url,
              "bulwark.service": service,
              "bulwark.request_id": requestId
            }
          }),
          Effect.annotateLogs({ service, request_id: requestId })
        )
      })

    return { service, policy, classified, execute }
  })

/**
 * The client as an @effect/platform `HttpClient` whose errors are the typed
 * failures themselves (`HttpClient.With<Failure<E>>`): every request made
 * through it (`get`, `post`, `execute`, any middleware added on top) runs
 * through the policy, as `execute` with no options. A request's own
 * `Idempotency-Key` and `x-request-id` headers are honoured.
 *
 * @since 0.1.0
 * @category Conversions
 */
export const typedHttpClient = <E>(client: ResilientClient<E>): HttpClient.HttpClient.With<Failure<E>> =>
  HttpClient.makeWith<never, never, Failure<E>, never>(
    (request) => Effect.flatMap(request, (prepared) => client.execute(prepared)),
    Effect.succeed
  )

// The HttpClientErrors this module built around a typed failure: `failureOf` trusts only these.
const carriers = new WeakSet<HttpClientError.HttpClientError>()

/**
 * The typed failure as an `HttpClientError`, for code that only speaks
 * `HttpClient`: a `ResponseError` (reason `StatusCode`, the failed response
 * attached) when the failure, or the last error of a `RetriesExhausted`, came
 * from a response; a `RequestError` (reason `Transport`) otherwise. The typed
 * failure is the `cause` and its message the `description`.
 *
 * @since 0.1.0
 * @category Conversions
 */
export const toHttpClientError = (
  request: HttpClientRequest.HttpClientRequest,
  failure: Failure<unknown>
): HttpClientError.HttpClientError => {
  const last = failure instanceof Retry.RetriesExhausted ? failure.lastError : failure
  const response = HttpFailures.failedResponse(last)?.response
  const description = failure instanceof Error ? failure.message : String(failure)
  const error = response === undefined
    ? new HttpClientError.RequestError({ request, reason: "Transport", cause: failure, description })
    : new HttpClientError.ResponseError({ request, response, reason: "StatusCode", cause: failure, description })
  carriers.add(error)
  return error
}

/**
 * The typed failure an `HttpClientError` of {@link httpClient} carries, or
 * `undefined` for any other error.
 *
 * `Effect.mapError((error) => ResilientClient.failureOf(error) ?? error)`
 * puts the typed failures back in the error channel.
 *
 * @since 0.1.0
 * @category Conversions
 */
export const failureOf = <E = never>(error: unknown): Failure<E> | undefined =>
  HttpClientError.isHttpClientError(error) && carriers.has(Cause.originalError(error))
    ? error.cause as Failure<E>
    : undefined

/**
 * The client as a plain `HttpClient.HttpClient`, a drop-in for code that
 * needs one (an SDK, a generated client): every request runs through the
 * policy, and a failure is an `HttpClientError` carrying the typed failure
 * (see {@link toHttpClientError}, {@link failureOf}).
 *
 * @since 0.1.0
 * @category Conversions
 */
export const httpClient = <E>(client: ResilientClient<E>): HttpClient.HttpClient =>
  HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (request) =>
      Effect.flatMap(
        request,
        (prepared) => Effect.mapError(client.execute(prepared), (failure) => toHttpClientError(prepared, failure))
      ),
    Effect.succeed
  )

/**
 * Wraps `base` for one service: {@link make} over `base`, as a plain
 * `HttpClient` ({@link httpClient}).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const wrap = <E = never>(
  base: HttpClient.HttpClient,
  options: Options<E>
): Effect.Effect<HttpClient.HttpClient, Errors.InvalidPolicy> =>
  make(options).pipe(Effect.map(httpClient), Effect.provideService(HttpClient.HttpClient, base))

/**
 * Replaces the `HttpClient` in context by one whose every request runs
 * through the policy of `options.service` ({@link httpClient}). Provide the
 * transport below it: `ResilientClient.layerHttpClient({ service: "github" })
 * .pipe(Layer.provide(FetchHttpClient.layer))`. Do not build a
 * `ResilientClient` over the result: its requests would run through two
 * policies.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerHttpClient = <E = never>(
  options: Options<E>
): Layer.Layer<HttpClient.HttpClient, Errors.InvalidPolicy, HttpClient.HttpClient> =>
  Layer.effect(HttpClient.HttpClient, Effect.map(make(options), httpClient))
