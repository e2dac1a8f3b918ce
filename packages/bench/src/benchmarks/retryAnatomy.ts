/**
 * Where the happy-path cost of `Retry.retry` goes: the pieces of its happy path
 * (one clock read, one `catchAll`), each alone, against the whole.
 */
import { Retry } from "@bulwark/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Benchmark } from "../Harness.js"
import { consume, effectLoop } from "../Loops.js"

const policy = Either.getOrThrow(Retry.policy({ maxAttempts: 5 }))
const call = Effect.sync(() => 1)
const recover = () => Effect.succeed(0)

export const benchmark: Benchmark = {
  name: "retry-anatomy",
  title: "what the happy path of Retry.retry is made of",
  description: [
    "The happy path of `Retry.retry` is one clock read (the start of the deadline) and one `catchAll`.",
    "Each piece is measured alone, in the same `yield*` loop as `pnpm bench retry`, to show which dominates."
  ].join("\n"),
  peers: [
    { name: "bare effect", bare: true, run: effectLoop(call) },
    { name: "catchAll", run: effectLoop(Effect.catchAll(call, recover)) },
    { name: "Clock.currentTimeMillis + flatMap", run: effectLoop(Effect.flatMap(Clock.currentTimeMillis, () => call)) },
    {
      name: "clockWith(unsafeCurrentTimeMillis) + flatMap",
      run: effectLoop(
        Effect.clockWith((clock) => Effect.flatMap(Effect.sync(() => clock.unsafeCurrentTimeMillis()), () => call))
      )
    },
    {
      name: "clock read + catchAll",
      run: effectLoop(Effect.flatMap(Clock.currentTimeMillis, () => Effect.catchAll(call, recover)))
    },
    {
      name: "clock read in withFiberRuntime + catchAll",
      run: effectLoop(Effect.withFiberRuntime((fiber) => {
        consume(Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis() & 1)
        return Effect.catchAll(call, recover)
      }))
    },
    { name: "bulwark retry", run: effectLoop(call.pipe(Retry.retry(policy))) }
  ]
}
