import { Errors } from "@bulwark/core"
import * as ServerHints from "@bulwark/http/ServerHints"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc, TestClock } from "effect"
import * as goDuration from "../src/internal/goDuration.js"
import * as httpDate from "../src/internal/httpDate.js"

// 2026-11-24T12:00:00Z, a Tuesday.
const now = Date.UTC(2026, 10, 24, 12, 0, 0)
const day = 86_400_000

/** The outcome in one comparable word: milliseconds, "invalid: <reason>" or "none". */
const outcome = (hint: ServerHints.Hint): number | string =>
  hint._tag === "Delay"
    ? Duration.toMillis(hint.retryAfter)
    : hint._tag === "Invalid"
    ? `invalid: ${hint.reason}`
    : "none"

/** Every verdict must be a finite, non-negative delay within the cap, or an explained refusal. */
const sane = (hint: ServerHints.Hint, cap = day) => {
  if (hint._tag === "Delay") {
    const millis = Duration.toMillis(hint.retryAfter)
    expect(Number.isFinite(millis)).toBe(true)
    expect(millis).toBeGreaterThanOrEqual(0)
    expect(millis).toBeLessThanOrEqual(cap)
  } else if (hint._tag === "Invalid") {
    expect(hint.reason.length).toBeGreaterThan(0)
  }
  return true
}

const anyText = fc.oneof(
  fc.string(),
  fc.fullUnicodeString(),
  fc.stringMatching(/^[\s+-]?[\d.eExX,\s]{0,24}$/),
  fc.double().map(String),
  fc.bigInt().map(String),
  fc.constantFrom("Infinity", "-Infinity", "NaN", "1e400", "9".repeat(400), "")
)

describe("ServerHints", () => {
  describe("never throw, never a negative, NaN or infinite delay", () => {
    it.prop(
      "retry-after",
      [anyText, fc.integer({ min: 0, max: 4e12 })],
      ([raw, t]) => sane(ServerHints.retryAfter(raw, t))
    )
    it.prop("retry-after-ms", [anyText], ([raw]) => sane(ServerHints.retryAfterMs(raw)))
    it.prop(
      "x-ratelimit-reset",
      [anyText, fc.integer({ min: 0, max: 4e12 })],
      ([raw, t]) => sane(ServerHints.rateLimitReset(raw, t))
    )
    it.prop(
      "x-ratelimit-reset-tokens",
      [anyText],
      ([raw]) => sane(ServerHints.resetDuration("x-ratelimit-reset-tokens", raw))
    )
    it.prop(
      "a whole response",
      [fc.dictionary(
        fc.constantFrom(...Object.values(ServerHints.headerNames), "Retry-After", "X-RateLimit-Reset"),
        anyText
      )],
      ([headers]) => sane(ServerHints.fromHeaders(headers, now))
    )
    it.prop(
      "a custom cap holds",
      [anyText, fc.integer({ min: 0, max: 100_000 })],
      ([raw, cap]) => sane(ServerHints.retryAfterMs(raw, { maxHint: Duration.millis(cap) }), cap)
    )
    it.prop("even without a cap", [anyText], ([raw]) => {
      const hint = ServerHints.retryAfter(raw, now, { maxHint: Duration.infinity })
      return sane(hint, Infinity)
    })
    it("an infinite cap still refuses an infinite wait", () => {
      expect(outcome(ServerHints.retryAfterMs("9".repeat(400), { maxHint: Duration.infinity }))).toBe(
        "invalid: not a finite number"
      )
    })
    it("a non-finite clock gives an invalid date, not NaN", () => {
      expect(outcome(ServerHints.retryAfter("Sun, 06 Nov 2044 08:49:37 GMT", NaN))).toBe(
        "invalid: the current time is not finite"
      )
      expect(outcome(ServerHints.rateLimitReset("2000000000", Infinity))).toMatch(/^invalid/)
    })
  })

  describe("round trips", () => {
    it.prop("delta-seconds", [fc.integer({ min: 0, max: 86_400 })], ([seconds]) => {
      expect(outcome(ServerHints.retryAfter(String(seconds), now))).toBe(seconds * 1000)
    })
    it.prop(
      "retry-after-ms",
      [fc.integer({ min: 0, max: day - 1 }), fc.integer({ min: 0, max: 999 })],
      ([ms, frac]) => {
        const raw = frac === 0 ? String(ms) : `${ms}.${String(frac).padStart(3, "0")}`
        expect(outcome(ServerHints.retryAfterMs(raw))).toBeCloseTo(Number(raw), 6)
      }
    )
    // Within ±49 years of now, so a two-digit RFC 850 year is unambiguous.
    const dates = fc.integer({ min: -49 * 365 * day, max: 49 * 365 * day }).map((offset) =>
      Math.floor((now + offset) / 1000) * 1000
    )
    it.prop(
      "HTTP-dates in all three forms",
      [dates, fc.constantFrom("imf-fixdate", "rfc850", "asctime") as fc.Arbitrary<"imf-fixdate">],
      ([date, form]) => {
        const raw = httpDate.format(date, form)
        expect(httpDate.parse(raw, now)).toEqual({ epochMillis: date })
        const expected = Math.max(0, date - now)
        expect(outcome(ServerHints.retryAfter(raw, now))).toBe(
          expected <= day ? expected : `invalid: beyond the cap of 1d`
        )
      }
    )
    it.prop("Go durations", [fc.integer({ min: 0, max: day })], ([millis]) => {
      const raw = goDuration.format(millis)
      expect(outcome(ServerHints.resetDuration("x-ratelimit-reset-requests", raw))).toBe(millis)
    })
    it.prop("epoch seconds", [fc.integer({ min: -day / 1000, max: day / 1000 })], ([offset]) => {
      const reset = now / 1000 + offset
      expect(outcome(ServerHints.rateLimitReset(String(reset), now))).toBe(Math.max(0, offset * 1000))
    })
  })

  describe("monotonic", () => {
    const seconds = fc.integer({ min: 0, max: 2 * 86_400 })
    it.prop("a later date waits longer", [seconds, seconds], ([a, b]) => {
      const [early, late] = a <= b ? [a, b] : [b, a]
      const wait = (s: number) => {
        const hint = ServerHints.retryAfter(httpDate.format(now + s * 1000, "imf-fixdate"), now, { maxHint: "3 days" })
        return hint._tag === "Delay" ? Duration.toMillis(hint.retryAfter) : NaN
      }
      expect(wait(early)).toBeLessThanOrEqual(wait(late))
    })
    it.prop("a later clock waits less for the same reset", [seconds, seconds], ([a, b]) => {
      const reset = String(now / 1000 + 86_400)
      const at = (s: number) => outcome(ServerHints.rateLimitReset(reset, now + s * 1000, { maxHint: "3 days" }))
      const [early, late] = a <= b ? [a, b] : [b, a]
      expect(at(early)).toBeGreaterThanOrEqual(at(late) as number)
    })
  })

  describe("real-world values", () => {
    it.each([
      // Anthropic, Orpheus (seed 000), GitHub secondary limits, Cloudflare, nginx limit_req.
      ["30", 30_000],
      ["0", 0],
      ["120", 120_000],
      ["3600", 3_600_000],
      ["1.5", 1500],
      ["  30  ", 30_000],
      ["30, 30", 30_000],
      ["30, 60", 60_000],
      ["30,", 30_000],
      // RFC 9110's example date and its two obsolete forms, all in the past.
      ["Sun, 06 Nov 1994 08:49:37 GMT", 0],
      ["Sunday, 06-Nov-94 08:49:37 GMT", 0],
      ["Sun Nov  6 08:49:37 1994", 0],
      ["Tue, 24 Nov 2026 12:00:30 GMT", 30_000],
      ["tue, 24 nov 2026 12:01:00 gmt", 60_000],
      ["Tuesday, 24-Nov-26 12:00:05 GMT", 5000],
      ["Tue Nov 24 12:00:10 2026", 10_000],
      ["Tue, 24 Nov 2026 12:00:30 GMT, Tue, 24 Nov 2026 12:00:40 GMT", 40_000],
      ["Wed, 25 Nov 2026 12:00:00 GMT", day],
      ["Thu, 26 Nov 2026 12:00:00 GMT", "invalid: beyond the cap of 1d"],
      ["86401", "invalid: beyond the cap of 1d"],
      ["9".repeat(400), "invalid: not a finite number"],
      ["", "invalid: empty"],
      ["   ", "invalid: empty"],
      ["soon", "invalid: not delta-seconds or an HTTP-date"],
      ["-1", "invalid: negative"],
      ["+5", "invalid: has a sign"],
      ["1e3", "invalid: not delta-seconds or an HTTP-date"],
      ["0x10", "invalid: not delta-seconds or an HTTP-date"],
      ["Infinity", "invalid: not delta-seconds or an HTTP-date"],
      ["NaN", "invalid: not delta-seconds or an HTTP-date"],
      ["30s", "invalid: not delta-seconds or an HTTP-date"],
      ["30, soon", "invalid: element 2: not delta-seconds or an HTTP-date"],
      ["Sun, 31 Nov 1994 08:49:37 GMT", "invalid: no such calendar date"],
      ["Sun, 06 Nov 1994 25:49:37 GMT", "invalid: time of day out of range"],
      ["Sun, 06 Nov 1994 08:49:37 UTC", "invalid: not delta-seconds or an HTTP-date"],
      ["2026-11-24T12:00:30Z", "invalid: not delta-seconds or an HTTP-date"]
    ])("Retry-After %j → %j", (raw, expected) => {
      expect(outcome(ServerHints.retryAfter(raw, now))).toBe(expected)
    })

    it.each([
      ["644", 644],
      ["644.5", 644.5],
      ["0", 0],
      ["-5", "invalid: negative"],
      ["1e3", "invalid: not milliseconds"],
      ["", "invalid: empty"]
    ])("retry-after-ms %j → %j", (raw, expected) => {
      expect(outcome(ServerHints.retryAfterMs(raw))).toBe(expected)
    })

    it.each([
      ["1s", 1000],
      ["6m0s", 360_000],
      ["250ms", 250],
      ["20ms", 20],
      ["12ms", 12],
      ["1.5s", 1500],
      ["1h2m3.5s", 3_723_500],
      ["23h47m36.648s", 85_656_648],
      ["0s", 0],
      ["0", 0],
      ["500us", 0.5],
      ["-1s", "invalid: negative"],
      ["1", "invalid: not a Go duration"],
      ["1d", "invalid: not a Go duration"],
      ["1 s", "invalid: not a Go duration"],
      ["25h", "invalid: beyond the cap of 1d"]
    ])("x-ratelimit-reset-tokens %j → %j", (raw, expected) => {
      expect(outcome(ServerHints.resetDuration("x-ratelimit-reset-tokens", raw))).toBe(expected)
    })

    it.each([
      [String(now / 1000 + 42), 42_000],
      [String(now / 1000 - 42), 0],
      ["60", "invalid: not epoch seconds (before 2001): a delta?"],
      ["soon", "invalid: not epoch seconds"]
    ])("x-ratelimit-reset %j → %j", (raw, expected) => {
      expect(outcome(ServerHints.rateLimitReset(raw, now))).toBe(expected)
    })
  })

  describe("the hint of a response", () => {
    const reset = String(now / 1000 + 600)
    it.each(
      [
        ["nothing", {}, "none"],
        ["GitHub with budget left", { "x-ratelimit-remaining": "4999", "x-ratelimit-reset": reset }, "none"],
        ["GitHub primary limit", { "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset }, 600_000],
        [
          "GitHub secondary limit",
          { "retry-after": "60", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset },
          60_000
        ],
        ["retry-after-ms first", { "retry-after-ms": "644", "retry-after": "1" }, 644],
        ["a bad retry-after-ms falls through", { "retry-after-ms": "soon", "retry-after": "2" }, 2000],
        ["only garbage", { "retry-after": "soon" }, "invalid: not delta-seconds or an HTTP-date"],
        [
          "OpenAI, requests exhausted",
          {
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1s",
            "x-ratelimit-remaining-tokens": "149984",
            "x-ratelimit-reset-tokens": "6m0s"
          },
          1000
        ],
        [
          "OpenAI, both exhausted: the longer",
          {
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1s",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-tokens": "6m0s"
          },
          360_000
        ],
        [
          "OpenAI, budget left: no hint",
          { "x-ratelimit-remaining-requests": "59", "x-ratelimit-reset-requests": "1s" },
          "none"
        ],
        [
          "OpenAI retry-after beats the resets",
          { "retry-after": "3", "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s" },
          3000
        ]
      ] as const
    )("%s", (_, headers, expected) => {
      expect(outcome(ServerHints.fromHeaders(headers, now))).toBe(expected)
    })

    it("reads any header container, names case-insensitively, repeats joined", () => {
      const expected = 60_000
      expect(outcome(ServerHints.fromHeaders(new Map([["Retry-After", "30"], ["retry-after", "60"]]), now))).toBe(
        expected
      )
      expect(outcome(ServerHints.fromHeaders({ "retry-after": ["30", "60"] }, now))).toBe(expected)
      expect(outcome(ServerHints.fromHeaders([["RETRY-AFTER", "60"]], now))).toBe(expected)
    })

    it("lists every verdict for the logs", () => {
      const verdicts = ServerHints.all({ "retry-after-ms": "soon", "retry-after": "2" }, now)
      expect(verdicts.map((v) => [v.header, v._tag])).toEqual([["retry-after-ms", "Invalid"], ["retry-after", "Delay"]])
    })

    it.effect("fromHeadersNow reads Effect's Clock", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(now)
        const hint = yield* ServerHints.fromHeadersNow({ "retry-after": "Tue, 24 Nov 2026 12:00:30 GMT" })
        expect(outcome(hint)).toBe(30_000)
      }))
  })

  describe("toError", () => {
    it("429 → RateLimited with the hint", () => {
      const error = ServerHints.toError(429, { "retry-after": "30" }, now, { service: "orpheus", detail: "GPU busy" })
      expect(error).toBeInstanceOf(Errors.RateLimited)
      expect(error).toMatchObject({ status: 429, service: "orpheus", detail: "GPU busy" })
      expect(Duration.toMillis((error as Errors.RateLimited).retryAfter!)).toBe(30_000)
    })

    it("keeps an unusable header in the detail, and no retryAfter", () => {
      const error = ServerHints.toError(503, { "Retry-After": "soon" }, now, { service: "ollama" })
      expect(error).toBeInstanceOf(Errors.Unavailable)
      expect(error).toMatchObject({ detail: "ignored retry-after \"soon\" (not delta-seconds or an HTTP-date)" })
      expect((error as Errors.Unavailable).retryAfter).toBeUndefined()
      const long = ServerHints.toError(500, { "retry-after": "x".repeat(500) }, now)
      expect(long.detail!.length).toBeLessThan(140)
    })

    it("GitHub's 403 at zero remaining is rate limiting; another 403 is not", () => {
      const limited = ServerHints.toError(403, {
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": String(now / 1000 + 60)
      }, now)
      expect(limited).toBeInstanceOf(Errors.RateLimited)
      expect(limited).toMatchObject({ status: 403 })
      expect(Duration.toMillis((limited as Errors.RateLimited).retryAfter!)).toBe(60_000)
      const forbidden = ServerHints.toError(403, { "x-ratelimit-remaining": "4999" }, now)
      expect(forbidden).toBeInstanceOf(Errors.Rejected)
    })

    it("404 → Rejected, hint dropped", () => {
      const error = ServerHints.toError(404, { "retry-after": "30" }, now)
      expect(error).toBeInstanceOf(Errors.Rejected)
      expect("retryAfter" in error && error.retryAfter !== undefined).toBe(false)
    })
  })
})
