import { Llm } from "@bulwark/clients"
import { JobStore, JobSupervisor } from "@bulwark/jobs"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer } from "effect"
import * as Issues from "../src/Issues.js"
import * as ReplyJob from "../src/ReplyJob.js"
import * as Runner from "../src/Runner.js"
import * as Storm from "../src/Storm.js"
import * as Timeline from "../src/Timeline.js"

describe("the storm", () => {
  it.scopedLive(
    "with the LLM client's default breaker, the 502 window opens it for 60 s: why the emulated run turns it off",
    () =>
      Effect.gen(function*() {
        expect(Storm.llmPolicy.circuitBreaker).toBe(false)
        const opened = yield* Deferred.make<Timeline.Entry>()
        const timeline = yield* Timeline.make({
          onEntry: (entry) => {
            if (/^LLM circuit breaker CLOSED -> OPEN/.test(entry.text)) Deferred.unsafeDone(opened, Exit.succeed(entry))
          }
        })
        // the demo's policy but for the breaker: the client's default one (outages only, 5 in a row, 60 s open)
        const clients = yield* Layer.build(
          Storm.layer({ llmPolicy: { retry: Storm.llmPolicy.retry } }).pipe(Layer.provide(FetchHttpClient.layer))
        )
        yield* Runner.run(Issues.bundled).pipe(
          // Runner.supervisorLayer, but the jobs waiting for the breaker are not given 10 s to finish at the end
          Effect.provide(
            JobSupervisor.layer({ types: [ReplyJob.ReplyToIssue], shutdownGrace: "100 millis" }).pipe(
              Layer.provide(JobStore.layerMemory)
            )
          ),
          Effect.provide(clients),
          Runner.observe(timeline),
          Effect.forkScoped
        )
        const entry = yield* Deferred.await(opened).pipe(Effect.timeout("10 seconds"))
        // not on the 429s of the first second (rate limits are not counted), but in the 502s (1 s to 3 s)
        expect(entry.at).toBeGreaterThanOrEqual(1000)
        expect(entry.at).toBeLessThan(3000)
        const llm = yield* Effect.provide(Llm.Llm, clients)
        const breaker = (yield* llm.policy.stats).circuitBreaker
        expect(breaker?.state).toBe("OPEN")
        // every job now waits for it, long after the storm: a minute instead of the run's 6 s
        expect(breaker?.secondsUntilRetry).toBeGreaterThan(55)
      }),
    { timeout: 20_000 }
  )
})
