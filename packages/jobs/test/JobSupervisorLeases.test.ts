import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Schema } from "effect"
import * as JobStore from "../src/JobStore.js"
import * as JobSupervisor from "../src/JobSupervisor.js"
import * as JobType from "../src/JobType.js"
import { advance, captureLogs, settle } from "./utils/supervisor.js"

const Slow = (interrupted?: Deferred.Deferred<void>) =>
  JobType.make({
    name: "slow",
    payload: Schema.Struct({ millis: Schema.Number }),
    result: Schema.Number,
    handler: ({ millis }) =>
      Effect.sleep(millis).pipe(
        Effect.zipRight(Clock.currentTimeMillis),
        Effect.onInterrupt(() => interrupted === undefined ? Effect.void : Deferred.succeed(interrupted, undefined))
      )
  })

describe("JobSupervisor leases", () => {
  it.scoped("one heartbeat renews the leases of long jobs: nobody else can claim them while they run", () =>
    Effect.gen(function*() {
      const store = yield* JobStore.JobStore
      const type = Slow()
      const supervisor = yield* JobSupervisor.make({ types: [type], leaseDuration: "3 seconds" })
      const long = yield* supervisor.submit(type, { millis: 20_000 })
      yield* settle
      const firstLease = (yield* store.get(long)).lease!
      expect(firstLease.expiresAt).toBe(3_000)
      for (let second = 1; second <= 19; second++) {
        yield* advance(1_000)
        const now = yield* Clock.currentTimeMillis
        // Another worker finds nothing due: the lease was renewed before it ran out.
        expect(yield* store.claim({ queues: [{ queue: "slow", limit: 5 }], owner: "thief", now, leaseMillis: 1 }))
          .toEqual([])
        expect((yield* store.get(long)).lease!.expiresAt).toBeGreaterThan(now)
      }
      yield* advance(1_000)
      expect(yield* supervisor.status(long)).toMatchObject({ state: "succeeded", attempts: 1, result: 20_000 })
    }).pipe(Effect.provide(JobStore.layerMemory)))

  it.scoped("a lease lost elsewhere (cancelled through the store) interrupts the attempt, which writes nothing", () => {
    const { lines, logger } = captureLogs()
    return Effect.gen(function*() {
      const store = yield* JobStore.JobStore
      const interrupted = yield* Deferred.make<void>()
      const type = Slow(interrupted)
      const supervisor = yield* JobSupervisor.make({ types: [type], leaseDuration: "3 seconds" })
      const id = yield* supervisor.submit(type, { millis: 60_000 })
      yield* settle
      expect(yield* supervisor.running).toEqual([id])
      // Another process cancels it: this supervisor learns it at the next heartbeat.
      const cancelled = yield* store.cancel(id, 500)
      yield* advance(2_000)
      yield* Deferred.await(interrupted)
      expect(yield* supervisor.running).toEqual([])
      expect(yield* store.get(id)).toEqual(cancelled)
      expect(lines).toContain(`Lease of job ${id} lost (cancelled or expired): attempt abandoned`)
    }).pipe(Effect.provide(JobStore.layerMemory), Effect.provide(logger))
  })
})
