import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

const units: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000
}

/**
 * Reads a duration as a person types it on a command line: `7d`, `12h`,
 * `30m`, `1h30m`, `90s`, `500ms`, or Effect's own form (`7 days`).
 *
 * @internal
 */
export const parse = (text: string): Option.Option<Duration.Duration> => {
  const compact = text.trim().toLowerCase()
  if (/^(\d+(ms|s|m|h|d|w))+$/.test(compact)) {
    let millis = 0
    for (const [, amount, unit] of compact.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) millis += Number(amount) * units[unit!]!
    return Option.some(Duration.millis(millis))
  }
  // Effect's form also takes "Infinity", which no prune or timeout means.
  return Option.filter(Duration.decodeUnknown(text), Duration.isFinite)
}
