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
import { consume } from "../Loops.js"

const policy = Either.getOrThrow(Retry.policy({ maxAttempts: 5 }))
const call = Effect.sync(() => 1)
const recover = () => Effect.succeed(0)

const loop = <E>(effect: Effect.Effect<number, E>) => (iterations: number) =>
  Effect.runPromise(Effect.gen(function*() {
    let sum = 0
    for (let i = 0; i < iterations; i++) sum += yield* effect
    consume(sum)
  }))

export const benchmark: Benchmark = {
  name: "retry-anatomy",
  title: "what the happy path of Retry.retry is made of",
  description: [
    "The happy path of `Retry.retry` is one clock read (the start of the deadline) and one `catchAll`.",
    "Each piece is measured alone, in the same `yield*` loop as `pnpm bench retry`, to show which dominates."
  ].join("\n"),
  peers: [
    { name: "bare effect", bare: true, run: loop(call) },
    { name: "catchAll", run: loop(Effect.catchAll(call, recover)) },
    { name: "Clock.currentTimeMillis + flatMap", run: loop(Effect.flatMap(Clock.currentTimeMillis, () => call)) },
    {
      name: "clockWith(unsafeCurrentTimeMillis) + flatMap",
      run: loop(
        Effect.clockWith((clock) => Effect.flatMap(Effect.sync(() => clock.unsafeCurrentTimeMillis()), () => call))
      )
    },
    {
      name: "clock read + catchAll",
      run: loop(Effect.flatMap(Clock.currentTimeMillis, () => Effect.catchAll(call, recover)))
    },
    {
      name: "clock read in withFiberRuntime + catchAll",
      run: loop(Effect.withFiberRuntime((fiber) => {
        consume(Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis() & 1)
        return Effect.catchAll(call, recover)
      }))
    },
    { name: "bulwark retry", run: loop(call.pipe(Retry.retry(policy))) }
  ]
}
