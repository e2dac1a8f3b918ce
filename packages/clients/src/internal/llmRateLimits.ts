import * as ServerHints from "@bulwark/http/ServerHints"
import * as Duration from "effect/Duration"
import type { Bucket, RateLimits } from "../Llm.js"

const count = (raw: string | undefined): number | undefined =>
  raw !== undefined && /^\s*\d+\s*$/.test(raw) ? Number(raw) : undefined

const bucket = (
  headers: Readonly<Record<string, string | undefined>>,
  name: "requests" | "tokens",
  now: number
): Bucket | undefined => {
  const limit = count(headers[`x-ratelimit-limit-${name}`])
  const remaining = count(headers[`x-ratelimit-remaining-${name}`])
  const header = name === "requests" ? ServerHints.headerNames.resetRequests : ServerHints.headerNames.resetTokens
  const raw = headers[header]
  const hint = raw === undefined ? undefined : ServerHints.resetDuration(header, raw)
  const reset = hint?._tag === "Delay" ? hint.retryAfter : undefined
  if (limit === undefined && remaining === undefined && reset === undefined) return undefined
  return {
    limit,
    remaining,
    reset,
    resetAt: reset === undefined ? undefined : now + Duration.toMillis(reset)
  }
}

/**
 * The budget an answer's `x-ratelimit-*` headers report (OpenAI sends them on
 * every answer of the chat route, 429s included), or `undefined` when it sends
 * none (Ollama, most proxies). Unparsable values are left out, never guessed.
 */
export const fromHeaders = (
  headers: Readonly<Record<string, string | undefined>>,
  now: number
): RateLimits | undefined => {
  const requests = bucket(headers, "requests", now)
  const tokens = bucket(headers, "tokens", now)
  return requests === undefined && tokens === undefined ? undefined : { observedAt: now, requests, tokens }
}
