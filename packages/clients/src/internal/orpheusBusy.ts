/**
 * How an Orpheus service's failed answers become typed errors: a busy GPU (429,
 * or the 503 `SingleJobGuard` answer of the other v2 services) is a
 * `RateLimited` whose `retryAfter` is what the server asked for, or the seed's
 * 5 s when it asked nothing or nothing readable; a 422 is an `InputRejected` with its `detail`.
 * Everything else keeps the standard classification of @bulwark/http.
 */
import * as Errors from "@bulwark/core/Errors"
import * as Retry from "@bulwark/core/Retry"
import * as Timeout from "@bulwark/core/Timeout"
import * as ServerHints from "@bulwark/http/ServerHints"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { GpuBusy, InputRejected, UnprocessableBody } from "../OrpheusSchema.js"

const seconds = /^\s*\d+(?:\.\d+)?\s*$/

/**
 * The server's hint: `retry-after-ms`, else `Retry-After` in seconds, else
 * `Retry-After` as an HTTP-date measured against the answer's own `Date`
 * header (the server's clock, so no skew and no clock needed here).
 * `undefined` for anything else (absent, empty, garbage, a date without
 * `Date`, beyond the hint cap): seed 000 then waits its default, as it does
 * for an absent or unparseable header.
 */
export const busyHint = (headers: Readonly<Record<string, string>>): Duration.Duration | undefined => {
  const ms = ServerHints.retryAfterMs(headers[ServerHints.headerNames.retryAfterMs])
  if (ms._tag === "Delay") return ms.retryAfter
  const raw = headers[ServerHints.headerNames.retryAfter]
  if (raw === undefined || raw.trim() === "") return undefined
  if (seconds.test(raw)) {
    const hint = ServerHints.retryAfter(raw, 0)
    return hint._tag === "Delay" ? hint.retryAfter : undefined
  }
  // Date.parse reads the server's IMF-fixdate header; it is no reading of the local clock
  const serverNow = headers["date"] === undefined ? Number.NaN : Date.parse(headers["date"])
  if (!Number.isFinite(serverNow)) return undefined
  const hint = ServerHints.retryAfter(raw, serverNow)
  return hint._tag === "Delay" ? hint.retryAfter : undefined
}

/** The 503 of a v2 `SingleJobGuard`: "Service is busy processing another request". */
export const isBusy503 = (response: HttpClientResponse.HttpClientResponse, excerpt: string): boolean =>
  response.status === 503 && /\bbusy\b/i.test(excerpt)

const decodeUnprocessable = Schema.decodeUnknownOption(Schema.parseJson(UnprocessableBody))

const oneLine = (text: string) => {
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length <= 500 ? flat : `${flat.slice(0, 500)}…`
}

/**
 * The busy answers of the calls in flight, by request id: what a call that
 * runs out of time was waiting for. A call registers its id (with
 * `undefined`) before it sends and deletes it when it ends, and only
 * registered ids are recorded, so the map holds the calls in flight and
 * nothing else (a `health` or a direct `clients.x.execute` adds nothing).
 */
export type Seen = Map<string, { readonly last: Errors.RateLimited; readonly count: number } | undefined>

/** The `classify` override of `HttpFailures` for one Orpheus service. */
export const classify = (service: string, defaultRetryAfter: Duration.Duration, seen: Seen) =>
(
  response: HttpClientResponse.HttpClientResponse,
  excerpt: string
): Option.Option<Errors.RateLimited | InputRejected> | undefined => {
  if (response.status === 429 || isBusy503(response, excerpt)) {
    const busy = new Errors.RateLimited({
      service,
      status: response.status,
      detail: "GPU busy",
      retryAfter: busyHint(response.headers) ?? defaultRetryAfter
    })
    const requestId = response.request.headers["x-request-id"]
    if (requestId !== undefined && seen.has(requestId)) {
      seen.set(requestId, { last: busy, count: (seen.get(requestId)?.count ?? 0) + 1 })
    }
    return Option.some(busy)
  }
  if (response.status === 422) {
    const body = decodeUnprocessable(excerpt)
    const detail = Option.isNone(body)
      ? { detail: oneLine(excerpt), issues: [] }
      : typeof body.value.detail === "string"
      ? { detail: oneLine(body.value.detail), issues: [] }
      : {
        detail: oneLine(
          body.value.detail.map((issue) => {
            const field = issue.loc?.filter((part) => part !== "body").join(".")
            return field === undefined || field === "" ? issue.msg : `${field}: ${issue.msg}`
          }).join("; ")
        ),
        issues: body.value.detail
      }
    return Option.some(new InputRejected({ service, status: 422, ...detail }))
  }
  return undefined
}

/** A busy answer: the server's 429 or busy 503, as {@link classify} built it. */
export const isBusy = (error: unknown): error is Errors.RateLimited => error instanceof Errors.RateLimited

/**
 * The failure the caller sees when the GPU stayed busy: a `GpuBusy` with the
 * job id, in place of a `RetriesExhausted` whose last error was a busy answer
 * (or a bare busy answer, when retries are off). Other failures pass.
 */
export const toGpuBusy = <E>(
  error: E,
  clientJobId: string,
  fallbackService: string,
  seen: { readonly last: Errors.RateLimited; readonly count: number } | undefined
): E | GpuBusy => {
  if (error instanceof Retry.RetriesExhausted && isBusy(error.lastError)) {
    const busy = error.lastError
    return new GpuBusy({
      service: busy.service ?? fallbackService,
      clientJobId,
      retryAfter: busy.retryAfter ?? Duration.zero,
      attempts: error.attempts,
      reason: Retry.describeReason(error.reason)
    })
  }
  if (isBusy(error)) {
    return new GpuBusy({
      service: error.service ?? fallbackService,
      clientJobId,
      retryAfter: error.retryAfter ?? Duration.zero,
      attempts: 1,
      reason: "retries are off"
    })
  }
  // The deadline struck during an attempt after busy answers: the GPU was what kept the call waiting.
  if (error instanceof Timeout.DeadlineExceeded && seen !== undefined) {
    return new GpuBusy({
      service: seen.last.service ?? fallbackService,
      clientJobId,
      retryAfter: seen.last.retryAfter ?? Duration.zero,
      attempts: seen.count + 1,
      reason: `the deadline passed (${Duration.format(error.after)})`
    })
  }
  return error
}
