/**
 * The submitter's trace context, as stored with a job: a W3C `traceparent`
 * (`00-<trace id>-<span id>-<flags>`), so an attempt's span can link to the
 * submitting span in whichever process the attempt runs.
 *
 * @internal
 */
import * as Tracer from "effect/Tracer"

const isHex = (text: string, length: number): boolean => {
  if (text.length !== length) return false
  let nonZero = false
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i)
    // 0-9, a-f
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false
    if (c !== 48) nonZero = true
  }
  // All zeros is the W3C "invalid" id.
  return nonZero
}

/**
 * The `traceparent` of `span`, or undefined when its ids are not W3C ids (a
 * tracer of another format): a link nobody can follow is not worth storing.
 *
 * @internal
 */
export const traceparentOf = (span: Tracer.AnySpan): string | undefined => {
  const { spanId, traceId } = span
  if (!isHex(traceId, 32) || !isHex(spanId, 16)) return undefined
  // `join` makes one flat string; a template literal would keep a rope of its parts alive with each job.
  return ["00", traceId, spanId, span.sampled ? "01" : "00"].join("-")
}

/** The span link to a stored `traceparent`; none for a missing or malformed one. @internal */
export const linksOf = (traceparent: string | undefined): ReadonlyArray<Tracer.SpanLink> => {
  // 00-<32 hex>-<16 hex>-<2 hex>
  if (traceparent === undefined || traceparent.length !== 55 || !traceparent.startsWith("00-")) return []
  const traceId = traceparent.slice(3, 35)
  const spanId = traceparent.slice(36, 52)
  const flags = Number.parseInt(traceparent.slice(53), 16)
  if (!isHex(traceId, 32) || !isHex(spanId, 16) || Number.isNaN(flags)) return []
  const span = Tracer.externalSpan({ traceId, spanId, sampled: (flags & 1) === 1 })
  return [{ _tag: "SpanLink", span, attributes: { "job.link": "submit" } }]
}
