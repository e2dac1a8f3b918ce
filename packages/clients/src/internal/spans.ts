/**
 * The one vocabulary of every client's calls, on the span and on every log
 * line of the call (the retry warnings of the layers underneath included):
 * a trace and a log search find a job's calls the same way in every client.
 */
import * as Effect from "effect/Effect"

/** What names one call. */
export interface Call {
  /** The service name (`orpheus-base`, `ollama`, `llm`, `github`). */
  readonly service: string
  /** The client's operation (`generate`, `create`, `createComment`…). */
  readonly operation: string
  readonly model?: string | undefined
  readonly task?: string | undefined
  readonly clientJobId?: string | undefined
}

/** The span attributes of a call: `bulwark.service`, `bulwark.operation`, `bulwark.model`, `bulwark.task`, `bulwark.client_job_id`. */
export const attributes = (call: Call): Record<string, string> => ({
  "bulwark.service": call.service,
  "bulwark.operation": call.operation,
  ...(call.model === undefined || call.model === "" ? {} : { "bulwark.model": call.model }),
  ...(call.task === undefined ? {} : { "bulwark.task": call.task }),
  ...(call.clientJobId === undefined ? {} : { "bulwark.client_job_id": call.clientJobId })
})

/** The log annotations of a call (the service comes from the resilient client's own). */
export const logAnnotations = (call: Call): Record<string, string> => ({
  operation: call.operation,
  ...(call.model === undefined || call.model === "" ? {} : { model: call.model }),
  ...(call.task === undefined ? {} : { task: call.task }),
  ...(call.clientJobId === undefined ? {} : { client_job_id: call.clientJobId })
})

/**
 * Annotates the current span with {@link attributes} and every log line of
 * `self` with {@link logAnnotations}: put it around the whole call (the
 * request through the policy and the reading of the answer), inside its span.
 */
export const annotate = (call: Call) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.zipRight(Effect.annotateCurrentSpan(attributes(call)), self).pipe(Effect.annotateLogs(logAnnotations(call)))
