import { Effect, Fiber, Duration, Exit } from "effect"
const N = 100000
const work = Effect.succeed(1)
class E { readonly _tag = "E" }
const d = Duration.seconds(10)
const variants: Record<string, (e: Effect.Effect<number>) => Effect.Effect<unknown, unknown>> = {
  bare: (e) => e,
  timeout: (e) => Effect.timeout(e, d),
  timeoutFail: (e) => Effect.timeoutFail(e, { duration: d, onTimeout: () => new E() }),
  timeoutTo: (e) => Effect.flatten(Effect.timeoutTo(e, { duration: d, onSuccess: Effect.succeed, onTimeout: () => Effect.fail(new E()) })),
  race: (e) => Effect.race(e, Effect.flatMap(Effect.sleep(d), () => Effect.fail(new E()))),
  raceFirst: (e) => Effect.raceFirst(e, Effect.zipRight(Effect.sleep(d), Effect.fail(new E()))),
  forkAwait: (e) => Effect.uninterruptibleMask((restore) => Effect.flatMap(Effect.fork(restore(e)), (f) =>
    Effect.flatMap(restore(Effect.timeoutTo(Fiber.await(f), { duration: d, onSuccess: (x) => x, onTimeout: () => Exit.fail(new E()) })), (exit) => exit)))
}
const results: Record<string, Array<number>> = {}
for (let round = 0; round < 5; round++) {
  for (const [name, wrap] of Object.entries(variants)) {
    const prog = Effect.gen(function*() { for (let i = 0; i < N; i++) yield* wrap(work) })
    const t0 = performance.now()
    await Effect.runPromise(prog as any)
    ;(results[name] ??= []).push((performance.now() - t0) * 1000 / N)
  }
}
for (const [name, xs] of Object.entries(results)) console.log(name.padEnd(14), xs.slice(1).map((x) => x.toFixed(2)).join("  "))
