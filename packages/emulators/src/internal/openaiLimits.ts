/**
 * OpenAI's rate limits as pure token buckets over "now" (epoch milliseconds
 * from Effect's Clock): one bucket of requests and one of tokens, each full
 * at its limit and refilled continuously so that an empty bucket is full again
 * one window (a minute by default) later, as OpenAI's "replenished
 * continuously" limits behave.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"

/** One bucket: `level` units available at `at`, at most `limit`, refilled at `limit / windowMillis` per ms. */
export interface Bucket {
  readonly limit: number
  readonly windowMillis: number
  readonly level: number
  readonly at: number
}

/** A full bucket at `now`. */
export const full = (limit: number, windowMillis: number, now: number): Bucket => ({
  limit,
  windowMillis,
  level: limit,
  at: now
})

/** The bucket refilled up to `now`; a clock that went backwards refills nothing. */
export const refill = (bucket: Bucket, now: number): Bucket => {
  const elapsed = Math.max(0, now - bucket.at)
  const level = Math.min(bucket.limit, bucket.level + (elapsed * bucket.limit) / bucket.windowMillis)
  return { ...bucket, level, at: Math.max(now, bucket.at) }
}

/** Whole units left, as `x-ratelimit-remaining-*` says it. */
export const remaining = (bucket: Bucket): number => Math.max(0, Math.floor(bucket.level + 1e-9))

/** Milliseconds until the bucket is full again (`x-ratelimit-reset-*`), rounded up to a whole ms. */
export const resetMillis = (bucket: Bucket): number =>
  Math.max(0, Math.ceil(((bucket.limit - bucket.level) * bucket.windowMillis) / bucket.limit - 1e-9))

/** Milliseconds until `cost` units are available; 0 when they are now, Infinity when they never can be. */
export const waitMillis = (bucket: Bucket, cost: number): number =>
  cost > bucket.limit
    ? Infinity
    : bucket.level + 1e-9 >= cost
    ? 0
    : Math.ceil(((cost - bucket.level) * bucket.windowMillis) / bucket.limit)

/** The six `x-ratelimit-*` values of an answer. */
export interface RateHeaders {
  readonly limitRequests: number
  readonly limitTokens: number
  readonly remainingRequests: number
  readonly remainingTokens: number
  readonly resetRequestsMillis: number
  readonly resetTokensMillis: number
}

/** Both buckets of the emulator at one instant. */
export interface Limits {
  readonly requests: Bucket
  readonly tokens: Bucket
}

/** The verdict on one request. */
export type Verdict =
  | { readonly _tag: "Allowed"; readonly limits: Limits; readonly headers: RateHeaders }
  | {
    readonly _tag: "Limited"
    /** Which budget ran out; with both, the one that frees last. */
    readonly bucket: "requests" | "tokens"
    readonly waitMillis: number
    /** Units in use of that bucket (limit minus remaining), for the message's "Used". */
    readonly used: number
    readonly limits: Limits
    readonly headers: RateHeaders
  }
  | { readonly _tag: "TooLarge"; readonly limits: Limits; readonly headers: RateHeaders }

export const headersOf = (limits: Limits): RateHeaders => ({
  limitRequests: limits.requests.limit,
  limitTokens: limits.tokens.limit,
  remainingRequests: remaining(limits.requests),
  remainingTokens: remaining(limits.tokens),
  resetRequestsMillis: resetMillis(limits.requests),
  resetTokensMillis: resetMillis(limits.tokens)
})

/** Both buckets refilled to `now`, nothing taken: the headers of an answer that is not charged. */
export const peek = (limits: Limits, now: number): Limits => ({
  requests: refill(limits.requests, now),
  tokens: refill(limits.tokens, now)
})

/**
 * Charges one request of `tokens` estimated tokens at `now`. All or nothing: a
 * refused request takes nothing from either bucket, so a client that waits
 * the answer's hint finds room. A request costing more tokens than the limit
 * can never pass (`TooLarge`, OpenAI's "Request too large").
 */
export const take = (limits: Limits, now: number, tokens: number): Verdict => {
  const current = peek(limits, now)
  if (tokens > current.tokens.limit) return { _tag: "TooLarge", limits: current, headers: headersOf(current) }
  const waitRequests = waitMillis(current.requests, 1)
  const waitTokens = waitMillis(current.tokens, tokens)
  if (waitRequests > 0 || waitTokens > 0) {
    const bucket = waitTokens > waitRequests ? "tokens" : "requests"
    const refused = current[bucket]
    return {
      _tag: "Limited",
      bucket,
      waitMillis: Math.max(waitRequests, waitTokens),
      used: refused.limit - remaining(refused),
      limits: current,
      headers: headersOf(current)
    }
  }
  const next: Limits = {
    requests: { ...current.requests, level: current.requests.level - 1 },
    tokens: { ...current.tokens, level: current.tokens.level - tokens }
  }
  return { _tag: "Allowed", limits: next, headers: headersOf(next) }
}

/** The buckets as a service over Effect's Clock: `take` and `peek` at the current time. */
export interface Limiter {
  readonly take: (tokens: number) => Effect.Effect<Verdict>
  readonly peek: Effect.Effect<RateHeaders>
}

export const makeLimiter = (options: {
  readonly requestsPerWindow: number
  readonly tokensPerWindow: number
  readonly windowMillis: number
}): Effect.Effect<Limiter> =>
  Effect.map(Clock.currentTimeMillis, (start) => {
    let limits: Limits = {
      requests: full(options.requestsPerWindow, options.windowMillis, start),
      tokens: full(options.tokensPerWindow, options.windowMillis, start)
    }
    return {
      take: (tokens) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            const verdict = take(limits, now, tokens)
            limits = verdict.limits
            return verdict
          })),
      peek: Effect.map(Clock.currentTimeMillis, (now) => headersOf(peek(limits, now)))
    }
  })

/**
 * Milliseconds as Go prints a `time.Duration` ("250ms", "1s", "6m0s",
 * "23h47m36.648s"), to the millisecond: OpenAI's reset headers and its
 * "Please try again in ..." text use this form.
 */
export const goDuration = (millis: number): string => {
  const ms = Math.max(0, Math.round(millis))
  if (ms === 0) return "0s"
  if (ms < 1000) return `${ms}ms`
  const hours = Math.floor(ms / 3_600_000)
  const minutes = Math.floor((ms % 3_600_000) / 60_000)
  const seconds = (ms % 60_000) / 1000
  return `${hours > 0 ? `${hours}h` : ""}${hours > 0 || minutes > 0 ? `${minutes}m` : ""}${seconds}s`
}
