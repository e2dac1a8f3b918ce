/**
 * One Ollama generation on the wire: the request checked against its Schema
 * (refused before sending otherwise), the span annotated, the body sent as a
 * request safe to repeat (a generation changes nothing on the server), and
 * Ollama's 404 and 400 read into their own errors.
 */
import type * as HttpFailures from "@bulwark/http/HttpFailures"
import type * as ResilientClient from "@bulwark/http/ResilientClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { InvalidInput } from "../ClientErrors.js"
import { ModelNotFound, RequestRefused } from "../OllamaErrors.js"
import { PsResponse } from "../OllamaSchema.js"
import * as CallDuration from "./callDuration.js"
import * as Decode from "./decode.js"
import { hex32 } from "./ids.js"
import * as Input from "./input.js"
import { ollamaError } from "./ollamaHttp.js"
import * as Spans from "./spans.js"

/** As `Ollama.CallOptions`. */
export interface Call {
  readonly timeout?: Duration.DurationInput | undefined
  readonly clientJobId?: string | undefined
  readonly task?: string | undefined
  readonly requestId?: string | undefined
}

/** Ollama's own refusals of a request it was sent; any other `HttpRejected` passes. */
export const refusal = (model: string, endpoint: string) =>
(
  error: HttpFailures.HttpRejected
): Effect.Effect<never, ModelNotFound | RequestRefused | HttpFailures.HttpRejected> => {
  const detail = ollamaError(error.excerpt)
  if (error.status === 404 && /model .* not found/i.test(detail)) {
    return Effect.fail(new ModelNotFound({ model, endpoint, detail }))
  }
  if (error.status === 400) return Effect.fail(new RequestRefused({ model, endpoint, status: 400, detail }))
  return Effect.fail(error)
}

/** What one client needs to send. */
export interface Sender {
  readonly service: string
  readonly baseUrl: string
  readonly timeoutFor: (model: string) => Duration.Duration | undefined
}

/** Checks the request against its Schema and sends it: the response, once its status is 2xx. */
export const send = <A, I>(
  sender: Sender,
  client: ResilientClient.ResilientClient,
  operation: string,
  schema: Schema.Schema<A, I>,
  path: string,
  request: A,
  stream: boolean,
  call: Call
) => {
  const model = typeof (request as { model?: unknown }).model === "string"
    ? (request as { model: string }).model
    : ""
  // Around the whole call: the retry warnings carry the job id too.
  const annotate = Spans.annotate({
    service: sender.service,
    operation,
    model,
    task: call.task,
    clientJobId: call.clientJobId
  })
  return Effect.gen(function*() {
    const endpoint = `POST ${path}`
    const body = yield* Schema.encode(schema)(request).pipe(
      Effect.mapError((error) => Input.fromParseError({ service: sender.service, operation }, request, error))
    )
    const own = yield* CallDuration.timeout({ service: sender.service, operation }, "timeout", call.timeout)
    const timeout = own ?? sender.timeoutFor(model)
    yield* Effect.annotateCurrentSpan({
      stream,
      ...(timeout === undefined ? {} : { timeout_ms: Duration.toMillis(timeout) })
    })
    const http = HttpClientRequest.post(`${sender.baseUrl}${path}`).pipe(
      HttpClientRequest.acceptJson,
      HttpClientRequest.bodyUnsafeJson({ ...(body as object), stream })
    )
    const requestId = call.requestId ?? (yield* hex32)
    // a generation changes nothing on the server: a timeout is retried as in the seed
    const response = yield* client.execute(http, { timeout, requestId, idempotent: true }).pipe(
      Effect.catchTag("HttpRejected", refusal(model, endpoint))
    )
    return { response, model, endpoint, timeout }
  }).pipe(annotate)
}

/**
 * Seed 002's `wait_for_ollama_capacity`: polls `/api/ps` every `interval`
 * (each poll bounded by it, outside the policy) until the server answers with
 * fewer than `maxLoaded` models loaded; `false` when `timeout` passes first.
 */
export const waitForCapacity = (
  client: ResilientClient.ResilientClient,
  baseUrl: string,
  wait: {
    readonly timeout: Duration.DurationInput
    readonly interval: Duration.DurationInput
    readonly maxLoaded?: number | undefined
  }
): Effect.Effect<boolean, InvalidInput> =>
  Effect.gen(function*() {
    const origin = { service: client.service, operation: "waitForCapacity" }
    const timeout = yield* CallDuration.required(origin, "timeout", wait.timeout, "non-negative")
    // a zero interval would poll in a busy loop, each poll timed out at once
    const interval = yield* CallDuration.required(origin, "interval", wait.interval, "positive-finite")
    const { maxLoaded } = wait
    if (maxLoaded !== undefined && !(Number.isInteger(maxLoaded) && maxLoaded >= 0)) {
      return yield* Input.invalid(origin, "maxLoaded", maxLoaded, "a whole number ≥ 0")
    }
    yield* Effect.annotateCurrentSpan({
      timeout_ms: Duration.toMillis(timeout),
      interval_ms: Duration.toMillis(interval),
      ...(maxLoaded === undefined ? {} : { max_loaded: maxLoaded })
    })
    const poll = client.classified.execute(HttpClientRequest.get(`${baseUrl}/api/ps`)).pipe(
      Effect.flatMap(Decode.json(PsResponse, { service: client.service, endpoint: "GET /api/ps" })),
      Effect.timeout(interval),
      Effect.filterOrFail((ps) => maxLoaded === undefined || ps.models.length < maxLoaded)
    )
    return yield* poll.pipe(
      Effect.retry(Schedule.spaced(interval)),
      Effect.timeoutTo({ duration: timeout, onTimeout: () => false, onSuccess: () => true }),
      // the retry never gives up: only the timeout ends it
      Effect.orElseSucceed(() => false)
    )
  }).pipe(Effect.withSpan("Ollama.waitForCapacity"))
