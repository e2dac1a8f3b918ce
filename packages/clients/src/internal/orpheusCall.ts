/**
 * One Orpheus call on the wire: the span and log annotations, the
 * `client_job_id` in body and query, the request through the model's
 * resilient client, the busy answers turned into `GpuBusy`, and the answer
 * read into what the public operations return.
 */
import type * as Errors from "@bulwark/core/Errors"
import type * as ResilientClient from "@bulwark/http/ResilientClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { type InvalidInput, MalformedResponse } from "../ClientErrors.js"
import type { Classification, Generation, GpuBusy, Meta, Model } from "../OrpheusSchema.js"
import { ClassificationResponse, GenerationResponse, Health, InputRejected } from "../OrpheusSchema.js"
import * as CallDuration from "./callDuration.js"
import * as decode from "./decode.js"
import { hex32 } from "./ids.js"
import * as Busy from "./orpheusBusy.js"
import * as Spans from "./spans.js"

/** The resilient client of one model's server. */
export type Client = ResilientClient.ResilientClient<InputRejected | Errors.RateLimited>

/** What a call can fail with (as `Orpheus.OrpheusError`, less the local refusal). */
export type CallError = ResilientClient.Failure<InputRejected> | MalformedResponse | GpuBusy | InvalidInput

/** Reads a 2xx answer of a call that sent `clientJobId`. */
export type Read<A> = (
  response: HttpClientResponse.HttpClientResponse,
  clientJobId: string
) => Effect.Effect<A, MalformedResponse>

const metaOf = (body: { readonly meta?: Meta | null | undefined; readonly metadata?: Meta | null | undefined }) =>
  body.meta ?? body.metadata ?? undefined

/** The reader of a generator's answer. */
export const generation = (service: string): Read<Generation> => {
  const read = decode.json(GenerationResponse, { service, endpoint: "POST /predict" })
  return (response, clientJobId) =>
    Effect.map(read(response), (body): Generation => ({
      task: body.task,
      variations: body.variations,
      clientJobId,
      meta: metaOf(body)
    }))
}

/** The reader of the classifier's answer. */
export const classification = (service: string): Read<Classification> => {
  const read = decode.json(ClassificationResponse, { service, endpoint: "POST /predict" })
  return (response, clientJobId) =>
    Effect.map(read(response), (answer): Classification => ({
      ...answer.classification,
      numTokens: answer.numTokens,
      clientJobId,
      meta: metaOf(answer)
    }))
}

/** `POST /predict` of one model's server, with the job id the caller gave or a fresh one. */
export const predictor = (
  clients: Readonly<Record<Model, Client>>,
  urls: Readonly<Record<Model, string>>,
  seen: Busy.Seen
) =>
<A>(
  model: Model,
  task: string,
  body: Record<string, unknown>,
  call: { readonly clientJobId?: string | undefined; readonly timeout?: Duration.DurationInput | undefined },
  read: Read<A>
): Effect.Effect<A, CallError> => {
  const client = clients[model]
  return Effect.gen(function*() {
    const timeout = yield* CallDuration.timeout({ service: client.service, operation: task }, "timeout", call.timeout)
    const clientJobId = call.clientJobId ?? `bulwark-${yield* hex32}`
    const requestId = yield* hex32
    // Around the whole call: the retry warnings of the policy carry the job id too.
    const annotate = Spans.annotate({ service: client.service, operation: task, model, task, clientJobId })
    // Body for v1 servers (and hootenanny's habit), query for v2 servers, which read only the query.
    const request = HttpClientRequest.post(`${urls[model]}/predict`).pipe(
      HttpClientRequest.setUrlParam("client_job_id", clientJobId),
      HttpClientRequest.bodyUnsafeJson(body)
    )
    const execute = Effect.suspend(() => {
      // registered: the busy answers of this request are recorded until it ends
      seen.set(requestId, undefined)
      return client.execute(request, { clientJobId, requestId, timeout })
    })
    return yield* execute.pipe(
      Effect.mapError((error) =>
        error instanceof InputRejected
          ? new InputRejected({ ...error, clientJobId })
          : Busy.toGpuBusy(error, clientJobId, client.service, seen.get(requestId))
      ),
      Effect.ensuring(Effect.sync(() => seen.delete(requestId))),
      Effect.flatMap((response) => read(response, clientJobId)),
      annotate
    )
  })
}

/** `GET /health` of one model's server: v2's JSON, or v1's plain `ok`. */
export const health = (
  client: Client,
  url: string
): Effect.Effect<Health, ResilientClient.Failure<InputRejected> | MalformedResponse> =>
  Effect.gen(function*() {
    const response = yield* client.execute(HttpClientRequest.get(`${url}/health`))
    const origin = { service: client.service, endpoint: "GET /health", status: response.status }
    const raw = yield* Effect.mapError(response.text, (error) =>
      new MalformedResponse({
        ...origin,
        reason: `the body could not be read: ${error.message}`,
        excerpt: ""
      }))
    // v1 LitServe answers a plain "ok" once its workers are set up.
    if (/^\s*"?ok"?\s*$/i.test(raw)) return { status: "ok" } satisfies Health
    return yield* decode.text(Health, origin)(raw)
  })
