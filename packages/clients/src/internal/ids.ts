/** Random ids from Effect's `Random` (so a test can seed them). */
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"

/** 32 hex digits: a request id, or the tail of a generated `client_job_id`. */
export const hex32: Effect.Effect<string> = Effect.map(
  Effect.all([Random.next, Random.next, Random.next, Random.next]),
  (parts) => parts.map((part) => Math.floor(part * 0x1_0000_0000).toString(16).padStart(8, "0")).join("")
)
