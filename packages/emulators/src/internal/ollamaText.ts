/**
 * The Ollama emulator's synthetic outputs: a reply that is a function of the
 * seed and the request (same request, same seed, same words), token counts,
 * and Ollama's wire formats for timestamps and digests.
 */
import * as Seeded from "./seeded.js"
import * as Words from "./words.js"

const words = Words.vocabulary("slot")

/** The reply, cut into tokens (a token is a word with its leading space). */
export interface Reply {
  readonly tokens: ReadonlyArray<string>
  /** `length` when `num_predict` cut the reply short. */
  readonly doneReason: "stop" | "length"
}

/** 8 to 32 tokens drawn from the seed and the request; `numPredict` (≥ 0) caps them. */
export const reply = (seed: number, request: unknown, numPredict: number | undefined): Reply => {
  const uniform = Seeded.forRequest(seed, request)
  const natural = 8 + Math.floor(uniform() * 25)
  const count = numPredict !== undefined && numPredict >= 0 ? Math.min(natural, numPredict) : natural
  const tokens = Array.from({ length: count }, (_, i) => {
    const word = words[Math.floor(uniform() * words.length)]!
    const text = i === 0 ? word.charAt(0).toUpperCase() + word.slice(1) : ` ${word}`
    return i === count - 1 ? `${text}.` : text
  })
  return { tokens, doneReason: count < natural ? "length" : "stop" }
}

/** A rough token count of a prompt: one token per four characters, at least one. */
export const promptTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4))

/** RFC 3339 with nanoseconds, as Go writes `time.Time` (UTC here). */
export const timestamp = (nanos: bigint): string => {
  const millis = Number(nanos / 1_000_000n)
  const fraction = (nanos % 1_000_000_000n).toString().padStart(9, "0")
  return `${new Date(millis).toISOString().slice(0, 19)}.${fraction}Z`
}

/** A stable 64-hex-digit digest for a model name. */
export const digest = (name: string): string =>
  Array.from({ length: 8 }, (_, i) => Seeded.hash(`${i}:${name}`).toString(16).padStart(8, "0")).join("")
