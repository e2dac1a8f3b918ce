/**
 * Go's `time.Duration` strings, as OpenAI's `x-ratelimit-reset-*` headers send
 * them ("1s", "6m0s", "23h47m36.648s"). Go's grammar minus the sign: a reset is
 * never negative, so "-1s" is refused rather than clamped.
 */

const unitMillis: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ns: 1e-6
}

// `ms` before `m` and `s`, so "250ms" is not read as 250 minutes then "s".
const component = /(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|μs|ns|h|m|s)/y
const whole = /^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ms|us|µs|μs|ns|h|m|s))+$/

/**
 * Milliseconds, or `undefined` when the text is not a Go duration. A bare "0" is
 * a valid Go duration.
 */
export const parse = (text: string): number | undefined => {
  if (text === "0") return 0
  if (!whole.test(text)) return undefined
  let total = 0
  component.lastIndex = 0
  let match: RegExpExecArray | null
  while ((match = component.exec(text)) !== null) {
    total += Number(match[1]) * unitMillis[match[2]!]!
  }
  // Whole nanoseconds, as Go has them: 36.648 * 1000 is 36648.000000000004 in floats.
  return Math.round(total * 1e6) / 1e6
}

/**
 * Formats milliseconds the way Go prints a `time.Duration` ("1h2m3.5s", "6m0s",
 * "250ms", "0s").
 */
export const format = (millis: number): string => {
  if (millis === 0) return "0s"
  if (millis < 1000) return `${trim(millis)}ms`
  const hours = Math.floor(millis / 3_600_000)
  const minutes = Math.floor((millis % 3_600_000) / 60_000)
  const seconds = (millis % 60_000) / 1000
  const h = hours > 0 ? `${hours}h` : ""
  const m = hours > 0 || minutes > 0 ? `${minutes}m` : ""
  return `${h}${m}${trim(seconds)}s`
}

const trim = (n: number) => String(Number(n.toFixed(3)))
