/**
 * GitHub's rate limits as pure state machines over "now" (epoch milliseconds
 * from Effect's Clock): the primary hourly window per credential and the
 * secondary sliding windows on content-creating requests.
 */

/** One credential's primary window: it opens at the first request and ends at `resetMillis`. */
export interface PrimaryWindow {
  /** A whole second, as GitHub's `x-ratelimit-reset` is epoch seconds. */
  readonly resetMillis: number
  readonly used: number
}

/** The `x-ratelimit-*` values of an answer. */
export interface RateHeaders {
  readonly limit: number
  readonly remaining: number
  readonly used: number
  /** Epoch seconds. */
  readonly reset: number
  readonly resource: string
}

/** The verdict on one request against the primary limit. */
export interface PrimaryVerdict {
  readonly allowed: boolean
  readonly window: PrimaryWindow
  readonly headers: RateHeaders
}

/** A window that starts now: it ends `windowMillis` later, rounded up to a whole second. */
const open = (now: number, windowMillis: number): PrimaryWindow => ({
  resetMillis: Math.ceil((now + windowMillis) / 1000) * 1000,
  used: 0
})

/** The window in force at `now`: the given one, or a fresh one when it has ended. */
export const current = (window: PrimaryWindow | undefined, now: number, windowMillis: number): PrimaryWindow =>
  window === undefined || now >= window.resetMillis ? open(now, windowMillis) : window

/** The headers of `window` without counting a request (`GET /rate_limit`, refusals before counting). */
export const headers = (window: PrimaryWindow, limit: number, resource = "core"): RateHeaders => ({
  limit,
  remaining: Math.max(0, limit - window.used),
  used: Math.min(window.used, limit),
  reset: window.resetMillis / 1000,
  resource
})

/**
 * Counts one request. A request over the limit is refused and not counted:
 * `used` stops at the limit, `remaining` at 0, until the window resets.
 */
export const take = (
  window: PrimaryWindow | undefined,
  now: number,
  limit: number,
  windowMillis: number,
  resource = "core"
): PrimaryVerdict => {
  const active = current(window, now, windowMillis)
  const allowed = active.used < limit
  const next = allowed ? { ...active, used: active.used + 1 } : active
  return { allowed, window: next, headers: headers(next, limit, resource) }
}

/** A secondary limit on content creation: at most `limit` requests in any `windowMillis`. */
export interface ContentRule {
  readonly limit: number
  readonly windowMillis: number
}

/** The verdict on one content-creating request against the secondary limits. */
export interface ContentVerdict {
  readonly allowed: boolean
  /** Accepted request times still inside the longest window, oldest first. */
  readonly times: ReadonlyArray<number>
  /** When refused: milliseconds until a slot frees in every violated window. */
  readonly waitMillis: number
}

/**
 * Checks one content-creating request at `now` against every rule. Only
 * accepted requests are recorded, so a client that waits the answer's
 * `retry-after` finds a free slot.
 */
export const takeContent = (
  times: ReadonlyArray<number>,
  now: number,
  rules: ReadonlyArray<ContentRule>
): ContentVerdict => {
  const longest = rules.reduce((max, rule) => Math.max(max, rule.windowMillis), 0)
  const kept = times.filter((at) => at > now - longest)
  let waitMillis = 0
  for (const rule of rules) {
    const inWindow = kept.filter((at) => at > now - rule.windowMillis)
    if (inWindow.length >= rule.limit) {
      // The oldest requests must leave the window until one slot is free.
      const freeing = inWindow[inWindow.length - rule.limit]!
      waitMillis = Math.max(waitMillis, freeing + rule.windowMillis - now)
    }
  }
  return waitMillis > 0
    ? { allowed: false, times: kept, waitMillis }
    : { allowed: true, times: [...kept, now], waitMillis: 0 }
}
