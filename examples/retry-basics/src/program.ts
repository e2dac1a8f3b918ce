/**
 * Four calls under Bulwark retry policies, each showing one rule:
 * a flaky service that recovers, a "GPU busy" server that asks us to wait,
 * a service that stays down, and a request no retry can fix.
 */
import { Errors, Retry } from "@bulwark/core"
import { Console, Duration, Effect, Either, Random } from "effect"

/** A service that fails with `failures`, one per call, then answers. */
const flaky = <E>(name: string, failures: ReadonlyArray<E>) => {
  let calls = 0
  return Effect.suspend(() => {
    const failure = failures[calls++]
    return failure === undefined ? Effect.succeed(`${name} answered on call ${calls}`) : Effect.fail(failure)
  })
}

const outcome = <A, E>(title: string, effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    yield* Console.log(`\n== ${title}`)
    const result = yield* Effect.either(effect)
    yield* Console.log(
      Either.match(result, {
        onRight: (value) => `   ok: ${String(value)}`,
        onLeft: (error) => `   failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`
      })
    )
    return Either.isRight(result)
  })

export const program = Effect.gen(function*() {
  // Short delays so the example finishes in a few seconds; production policies use seconds.
  const llm = yield* Retry.policy({ name: "llm", maxAttempts: 5, base: "100 millis", maxDelay: "2 seconds" })
  const orpheus = yield* Retry.policy({
    name: "orpheus",
    maxAttempts: 3,
    base: "100 millis",
    retryAfter: "override",
    rateLimitedAttempts: "free",
    maxElapsed: "10 seconds"
  })

  const server = new Errors.ServerError({ service: "llm", status: 502, detail: "bad gateway" })
  const busy = new Errors.RateLimited({
    service: "orpheus",
    status: 429,
    detail: "GPU busy",
    retryAfter: Duration.millis(300)
  })

  const results = [
    yield* outcome("a flaky LLM call recovers", flaky("llm", [server, server]).pipe(Retry.retry(llm))),
    yield* outcome(
      "Orpheus answers 429 GPU busy: wait what Retry-After says, without using up attempts",
      flaky("orpheus", [busy, busy, busy, busy]).pipe(Retry.retry(orpheus))
    ),
    yield* outcome(
      "a service that stays down: the policy gives up",
      flaky("llm", Array(9).fill(server)).pipe(Retry.retry(llm))
    ),
    yield* outcome(
      "a 404 is not retried",
      flaky("github", [new Errors.Rejected({ service: "github", status: 404, detail: "Not Found" })]).pipe(
        Retry.retry(llm)
      )
    )
  ]
  return results
}).pipe(Effect.withRandom(Random.make("retry-basics")))
