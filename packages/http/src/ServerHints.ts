/**
 * Server hints: the headers with which a server says how long to wait, turned
 * into a `retryAfter` Duration for the core's error families.
 *
 * - `retry-after-ms`: milliseconds (non-standard; OpenAI's SDK reads it first).
 * - `Retry-After`: delta-seconds or an HTTP-date in any of RFC 9110's three forms.
 * - `x-ratelimit-reset-requests` / `-tokens` (OpenAI): Go durations ("6m0s"),
 *   a hint only for a bucket whose `x-ratelimit-remaining-*` is 0.
 * - `x-ratelimit-reset` (GitHub): epoch seconds, a hint only when
 *   `x-ratelimit-remaining` is 0.
 *
 * Every parser is total: garbage, negative, empty, non-finite or absurd values
 * (longer than `maxHint`, one day by default) give an {@link Invalid} that keeps
 * the raw text for logs, never an exception and never a negative, NaN or
 * infinite Duration. Time is the caller's `now` (epoch milliseconds from
 * Effect's Clock), so the parsers stay pure and testable.
 *
 * @since 0.1.0
 */
import * as Classify from "@bulwark/core/Classify"
import * as Errors from "@bulwark/core/Errors"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as goDuration from "./internal/goDuration.js"
import * as httpDate from "./internal/httpDate.js"

/**
 * A usable hint: wait `retryAfter`. `header` and `raw` say where it came from.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Delay {
  readonly _tag: "Delay"
  readonly header: string
  readonly raw: string
  readonly retryAfter: Duration.Duration
}

/**
 * A hint header was present but unusable; fall back to the policy's backoff and
 * log `raw` and `reason`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Invalid {
  readonly _tag: "Invalid"
  readonly header: string
  readonly raw: string
  readonly reason: string
}

/**
 * No hint header applies.
 *
 * @since 0.1.0
 * @category Models
 */
export interface None {
  readonly _tag: "None"
}

/**
 * The verdict on one header, or on a whole response.
 *
 * @since 0.1.0
 * @category Models
 */
export type Hint = Delay | Invalid | None

/**
 * @since 0.1.0
 * @category Constructors
 */
export const none: None = { _tag: "None" }

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /**
   * The longest believable hint; a longer one is {@link Invalid} ("beyond the
   * cap"). Default {@link defaultMaxHint}.
   */
  readonly maxHint?: Duration.DurationInput | undefined
}

/**
 * One day: GitHub's primary window is one hour and OpenAI's daily buckets reset
 * within 24 hours, so anything longer is a bug or an attack, not a hint.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaultMaxHint: Duration.Duration = Duration.days(1)

/**
 * Anything that holds response headers: a plain record (Node's
 * `IncomingHttpHeaders`, @effect/platform's `Headers`), a WHATWG `Headers`, or a
 * `Map`. Names are matched case-insensitively; repeated fields are joined with
 * ", " as RFC 9110 §5.3 allows.
 *
 * @since 0.1.0
 * @category Models
 */
export type HeadersInput =
  | Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  | Iterable<readonly [string, string]>

/**
 * The header names this module reads, lower-case, in order of precedence.
 *
 * @since 0.1.0
 * @category Constants
 */
export const headerNames = {
  retryAfterMs: "retry-after-ms",
  retryAfter: "retry-after",
  resetRequests: "x-ratelimit-reset-requests",
  remainingRequests: "x-ratelimit-remaining-requests",
  resetTokens: "x-ratelimit-reset-tokens",
  remainingTokens: "x-ratelimit-remaining-tokens",
  reset: "x-ratelimit-reset",
  remaining: "x-ratelimit-remaining",
  shouldRetry: "x-should-retry"
} as const

type Member = { readonly millis: number } | { readonly reason: string }

const decimal = /^\d+(?:\.\d+)?$/
const signed = /^[+-]\s*(?:\d|\.\d|infinity)/i
const dayName = /^(?:mon|tue|wed|thu|fri|sat|sun)(?:day|sday|nesday|rsday|urday)?$/i

const capMillis = (options: Options | undefined): number => {
  if (options?.maxHint === undefined) return Duration.toMillis(defaultMaxHint)
  const millis = Duration.toMillis(Duration.decode(options.maxHint))
  return Number.isNaN(millis) ? Duration.toMillis(defaultMaxHint) : Math.max(0, millis)
}

/**
 * The elements of a list-valued field. An HTTP-date has a comma after its day
 * name, so a lone day name is glued back to the element after it.
 */
const members = (raw: string): Array<string> => {
  const pieces = raw.split(",").map((piece) => piece.trim())
  const result: Array<string> = []
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!
    if (dayName.test(piece) && i + 1 < pieces.length) {
      result.push(`${piece}, ${pieces[++i]}`)
    } else if (piece !== "") {
      // RFC 9110 §5.6.1: empty list elements are ignored.
      result.push(piece)
    }
  }
  return result
}

const notANumber = (member: string, expected: string): string =>
  signed.test(member) ? (member.startsWith("-") ? "negative" : "has a sign") : `not ${expected}`

/**
 * Parses every element with `one`; a field that repeats (a proxy or a server
 * duplicating it) means the longest wait, which honours each of them.
 */
const verdict = (header: string, raw: string | undefined, options: Options | undefined, one: (m: string) => Member) => {
  if (raw === undefined) return none
  const list = members(raw)
  if (list.length === 0) return invalid(header, raw, "empty")
  let longest = 0
  for (let i = 0; i < list.length; i++) {
    const member = one(list[i]!)
    if ("reason" in member) {
      return invalid(header, raw, list.length === 1 ? member.reason : `element ${i + 1}: ${member.reason}`)
    }
    longest = Math.max(longest, member.millis)
  }
  const cap = capMillis(options)
  if (!Number.isFinite(longest)) return invalid(header, raw, "not a finite number")
  if (!(longest <= cap)) return invalid(header, raw, `beyond the cap of ${Duration.format(Duration.millis(cap))}`)
  return delay(header, raw, Duration.millis(longest))
}

const delay = (header: string, raw: string, retryAfter: Duration.Duration): Delay => ({
  _tag: "Delay",
  header,
  raw,
  retryAfter
})

const invalid = (header: string, raw: string, reason: string): Invalid => ({ _tag: "Invalid", header, raw, reason })

/** A moment `epochMillis` as a wait from `now`; the past means now. */
const until = (epochMillis: number, now: number): Member =>
  Number.isFinite(now) ? { millis: Math.max(0, epochMillis - now) } : { reason: "the current time is not finite" }

/**
 * A `Retry-After` value: delta-seconds (digits, optionally with a fraction as
 * OpenAI's SDK accepts; no sign, exponent or hex) or an HTTP-date relative to
 * `now`. A past date means 0.
 *
 * @since 0.1.0
 * @category Parsers
 */
export const retryAfter = (raw: string | undefined, now: number, options?: Options): Hint =>
  verdict(headerNames.retryAfter, raw, options, (member) => {
    if (decimal.test(member)) return { millis: Number(member) * 1000 }
    const date = httpDate.parse(member, now)
    if (date === undefined) return { reason: notANumber(member, "delta-seconds or an HTTP-date") }
    return "error" in date ? { reason: date.error } : until(date.epochMillis, now)
  })

/**
 * A `retry-after-ms` value: milliseconds, optionally fractional.
 *
 * @since 0.1.0
 * @category Parsers
 */
export const retryAfterMs = (raw: string | undefined, options?: Options): Hint =>
  verdict(
    headerNames.retryAfterMs,
    raw,
    options,
    (member) => decimal.test(member) ? { millis: Number(member) } : { reason: notANumber(member, "milliseconds") }
  )

/**
 * GitHub's `x-ratelimit-reset`: the window's end in epoch seconds; the wait is
 * from `now` to then, 0 when it has passed. A value before 2001-09-09 (less than
 * 10^9) is refused: it is a delta some other API sent, not an epoch.
 *
 * @since 0.1.0
 * @category Parsers
 */
export const rateLimitReset = (raw: string | undefined, now: number, options?: Options): Hint =>
  verdict(headerNames.reset, raw, options, (member) => {
    if (!decimal.test(member)) return { reason: notANumber(member, "epoch seconds") }
    const seconds = Number(member)
    return seconds < 1e9 ? { reason: "not epoch seconds (before 2001): a delta?" } : until(seconds * 1000, now)
  })

/**
 * An OpenAI `x-ratelimit-reset-requests` / `-tokens` value: a Go duration such
 * as "1s", "6m0s", "250ms" or "23h47m36.648s" (units h, m, s, ms, us, ns, with
 * fractions; no sign).
 *
 * @since 0.1.0
 * @category Parsers
 */
export const resetDuration = (
  header: typeof headerNames.resetRequests | typeof headerNames.resetTokens,
  raw: string | undefined,
  options?: Options
): Hint =>
  verdict(header, raw, options, (member) => {
    const millis = goDuration.parse(member)
    return millis === undefined ? { reason: notANumber(member, "a Go duration") } : { millis }
  })

/**
 * The verdict of an `x-should-retry` header (the OpenAI and Anthropic SDKs'
 * convention): `Force` says whether to retry regardless of the status.
 *
 * @since 0.1.0
 * @category Models
 */
export type ShouldRetry =
  | { readonly _tag: "Force"; readonly retry: boolean; readonly raw: string }
  | Invalid
  | None

/**
 * An `x-should-retry` value: `true` or `false` (case and surrounding spaces
 * ignored); anything else is {@link Invalid}, kept raw for the logs, and the
 * status decides as if the header were absent.
 *
 * @since 0.1.0
 * @category Parsers
 */
export const shouldRetry = (raw: string | undefined): ShouldRetry => {
  if (raw === undefined) return none
  const value = raw.trim().toLowerCase()
  if (value === "true" || value === "false") return { _tag: "Force", retry: value === "true", raw }
  return invalid(headerNames.shouldRetry, raw, value === "" ? "empty" : "not true or false")
}

/**
 * Header lookup by lower-case name, repeated fields joined with ", ".
 *
 * @since 0.1.0
 * @category Getters
 */
export const lookup = (headers: HeadersInput): (name: string) => string | undefined => {
  const map = new Map<string, string>()
  const add = (name: string, value: string) => {
    const key = name.toLowerCase()
    const previous = map.get(key)
    map.set(key, previous === undefined ? value : `${previous}, ${value}`)
  }
  if (Symbol.iterator in headers) {
    for (const [name, value] of headers as Iterable<readonly [string, string]>) add(name, String(value))
  } else {
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value === "string") add(name, value)
      else if (Array.isArray(value)) { for (const item of value) add(name, String(item)) }
    }
  }
  return (name) => map.get(name)
}

const exhausted = (remaining: string | undefined): boolean => remaining !== undefined && /^0+$/.test(remaining.trim())

/**
 * Every hint header of a response that applies, with its verdict, in order of
 * precedence: `retry-after-ms`, `retry-after`, the OpenAI resets of exhausted
 * buckets, GitHub's reset when exhausted. Useful to log what was ignored.
 *
 * @since 0.1.0
 * @category Parsers
 */
export const all = (headers: HeadersInput, now: number, options?: Options): Array<Delay | Invalid> =>
  groups(lookup(headers), now, options).flat()

const groups = (get: (name: string) => string | undefined, now: number, options: Options | undefined) => {
  const present = (hint: Hint): Array<Delay | Invalid> => hint._tag === "None" ? [] : [hint]
  const openAi: Array<Delay | Invalid> = []
  if (exhausted(get(headerNames.remainingRequests))) {
    openAi.push(...present(resetDuration(headerNames.resetRequests, get(headerNames.resetRequests), options)))
  }
  if (exhausted(get(headerNames.remainingTokens))) {
    openAi.push(...present(resetDuration(headerNames.resetTokens, get(headerNames.resetTokens), options)))
  }
  return [
    present(retryAfterMs(get(headerNames.retryAfterMs), options)),
    present(retryAfter(get(headerNames.retryAfter), now, options)),
    openAi,
    exhausted(get(headerNames.remaining)) ? present(rateLimitReset(get(headerNames.reset), now, options)) : []
  ]
}

/**
 * The hint of a response: the first group in the order of {@link all} with a
 * usable value wins (an invalid `retry-after-ms` falls through to `retry-after`,
 * as OpenAI's SDK does); when both OpenAI buckets are exhausted, the longer reset.
 * {@link Invalid} only when no header was usable, {@link None} when none applied.
 *
 * @since 0.1.0
 * @category Parsers
 */
export const fromHeaders = (headers: HeadersInput, now: number, options?: Options): Hint =>
  decide(groups(lookup(headers), now, options))

const decide = (verdicts: ReadonlyArray<ReadonlyArray<Delay | Invalid>>): Hint => {
  let firstInvalid: Invalid | undefined
  for (const group of verdicts) {
    let best: Delay | undefined
    for (const hint of group) {
      if (hint._tag === "Invalid") firstInvalid ??= hint
      else if (best === undefined || Duration.greaterThan(hint.retryAfter, best.retryAfter)) best = hint
    }
    if (best !== undefined) return best
  }
  return firstInvalid ?? none
}

/**
 * {@link fromHeaders} at the current time of Effect's Clock.
 *
 * @since 0.1.0
 * @category Parsers
 */
export const fromHeadersNow = (headers: HeadersInput, options?: Options): Effect.Effect<Hint> =>
  Effect.map(Clock.currentTimeMillis, (now) => fromHeaders(headers, now, options))

/**
 * What a caller knows about a failed response besides its status and headers.
 *
 * @since 0.1.0
 * @category Errors
 */
export interface ResponseFacts extends Options {
  readonly service?: string | undefined
  readonly detail?: string | undefined
}

const excerpt = (raw: string): string => raw.length <= 64 ? raw : `${raw.slice(0, 64)}…`

/**
 * The core error of a failed response, with the response's hint as its
 * `retryAfter` (see {@link fromHeaders}); unusable hint headers are named in
 * `detail` (raw value cut to 64 characters) so the log says why the backoff was
 * used. A 403 that carries a rate-limit signal (`retry-after`, or
 * `x-ratelimit-remaining: 0`) is GitHub's way of saying 429: it becomes
 * `RateLimited` with status 403. Everything else goes through
 * `Classify.fromHttpStatus`.
 *
 * @since 0.1.0
 * @category Errors
 */
export const toError = (
  status: number,
  headers: HeadersInput,
  now: number,
  facts: ResponseFacts = {}
): Errors.Transient | Errors.Rejected => {
  const get = lookup(headers)
  const verdicts = groups(get, now, facts)
  const hint = decide(verdicts)
  const ignored = verdicts.flat().flatMap((verdict) =>
    verdict._tag === "Invalid" ? [`ignored ${verdict.header} "${excerpt(verdict.raw)}" (${verdict.reason})`] : []
  )
  const detail = [facts.detail, ...ignored].filter((part) => part !== undefined).join("; ")
  const fields = {
    service: facts.service,
    detail: detail === "" ? undefined : detail,
    retryAfter: hint._tag === "Delay" ? hint.retryAfter : undefined
  }
  if (status === 403 && (get(headerNames.retryAfter) !== undefined || exhausted(get(headerNames.remaining)))) {
    return new Errors.RateLimited({ ...fields, status })
  }
  return Classify.fromHttpStatus(status, fields)
}
