/**
 * The contract every `JobStore` passes: run by `JobStoreMemory.test.ts`,
 * `JobStoreSqlite.test.ts` (and the PostgreSQL store's test when it comes)
 * with a fresh store per test.
 */
import type { JobId, JobRecord, NewJob } from "@bulwark/jobs/Job"
import * as JobStore from "@bulwark/jobs/JobStore"
import { describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Chunk, Effect, Either, FastCheck as fc, Fiber, Stream } from "effect"

export const jobId = (n: number | string) => `job-${n}` as JobId

export const newJob = (n: number | string, overrides: Partial<NewJob> = {}): NewJob => ({
  id: jobId(n),
  type: "t",
  queue: "q",
  payload: { n },
  priority: 0,
  maxAttempts: 3,
  maxRateLimited: 10,
  runAt: 0,
  ...overrides
})

const store = JobStore.JobStore

const claimOne = (owner: string, now: number, leaseMillis = 1000, queue = "q") =>
  Effect.flatMap(store, (s) => s.claim({ queues: [{ queue, limit: 1 }], owner, now, leaseMillis })).pipe(
    Effect.map((jobs) => {
      expect(jobs.length).toBe(1)
      return jobs[0]!
    })
  )

const error = (attempt: number, at: number) => ({ tag: "Boom", message: "boom", attempt, at })

export const storeContract = (name: string, layer: () => Layer.Layer<JobStore.JobStore, unknown>) => {
  const test = <A, E>(title: string, body: Effect.Effect<A, E, JobStore.JobStore>, timeout?: number) =>
    it.effect(title, () => Effect.provide(body, layer()), timeout)

  describe(`${name}: enqueue and dedupe`, () => {
    test(
      "a due job is queued, a future one scheduled; sequence and revision grow",
      Effect.gen(function*() {
        const s = yield* store
        const a = yield* s.enqueue(newJob(1, { runAt: 100 }), { now: 100 })
        const b = yield* s.enqueue(newJob(2, { runAt: 200 }), { now: 100 })
        expect(a.created).toBe(true)
        expect(a.job.state).toBe("queued")
        expect(b.job.state).toBe("scheduled")
        expect(b.job.sequence).toBeGreaterThan(a.job.sequence)
        expect(b.job.revision).toBeGreaterThan(a.job.revision)
        expect(a.job).toMatchObject({ attempts: 0, rateLimited: 0, createdAt: 100, errors: [], steps: {} })
        expect(yield* s.get(jobId(1))).toEqual(a.job)
        expect(yield* Effect.flip(s.get(jobId(9)))).toEqual(new JobStore.JobNotFound({ id: "job-9" }))
      })
    )

    test(
      "dedupe: reject names the existing job, existing returns it, the key is free once the job is final",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob(1, { dedupeKey: "k" }), { now: 0, dedupe: "reject" })
        const rejected = yield* Effect.flip(s.enqueue(newJob(2, { dedupeKey: "k" }), { now: 0, dedupe: "reject" }))
        expect(rejected).toEqual(new JobStore.DuplicateJob({ dedupeKey: "k", existing: "job-1" }))
        const existing = yield* s.enqueue(newJob(3, { dedupeKey: "k" }), { now: 0, dedupe: "existing" })
        expect(existing.created).toBe(false)
        expect(existing.job.id).toBe("job-1")
        expect(yield* Effect.either(s.get(jobId(2)))).toSatisfy(Either.isLeft)
        expect(yield* Effect.either(s.get(jobId(3)))).toSatisfy(Either.isLeft)
        yield* s.cancel(jobId(1), 1)
        const again = yield* s.enqueue(newJob(4, { dedupeKey: "k" }), { now: 2, dedupe: "reject" })
        expect(again.created).toBe(true)
        // and after success too
        const job = yield* claimOne("w", 3)
        yield* s.complete(job.id, job.lease!.token, 1, 4)
        expect((yield* s.enqueue(newJob(5, { dedupeKey: "k" }), { now: 5 })).created).toBe(true)
      })
    )
  })

  describe(`${name}: claim`, () => {
    test(
      "in priority, then runAt, then submission order; scheduled jobs only once due",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob("late", { runAt: 50 }), { now: 0 })
        yield* s.enqueue(newJob("p5", { priority: 5 }), { now: 0 })
        yield* s.enqueue(newJob("a", { runAt: 0 }), { now: 0 })
        yield* s.enqueue(newJob("b", { runAt: 0 }), { now: 0 })
        yield* s.enqueue(newJob("early", { runAt: -10 }), { now: 0 })
        const first = yield* s.claim({ queues: [{ queue: "q", limit: 10 }], owner: "w", now: 10, leaseMillis: 1000 })
        expect(first.map((j) => j.id)).toEqual(["job-early", "job-a", "job-b", "job-p5"])
        expect(first.every((j) => j.state === "running" && j.attempts === 1 && j.lease?.owner === "w")).toBe(true)
        expect(new Set(first.map((j) => j.lease!.token)).size).toBe(4)
        expect(first[0]!.lease!.expiresAt).toBe(1010)
        expect(first[0]!.startedAt).toBe(10)
        const second = yield* s.claim({ queues: [{ queue: "q", limit: 10 }], owner: "w", now: 50, leaseMillis: 1000 })
        expect(second.map((j) => j.id)).toEqual(["job-late"])
      })
    )

    test(
      "limits are per queue, and other queues are untouched",
      Effect.gen(function*() {
        const s = yield* store
        for (let i = 0; i < 5; i++) yield* s.enqueue(newJob(`a${i}`, { queue: "a" }), { now: 0 })
        for (let i = 0; i < 5; i++) yield* s.enqueue(newJob(`b${i}`, { queue: "b" }), { now: 0 })
        yield* s.enqueue(newJob("c", { queue: "c" }), { now: 0 })
        const jobs = yield* s.claim({
          queues: [{ queue: "a", limit: 2 }, { queue: "b", limit: 3 }, { queue: "c", limit: 0 }],
          owner: "w",
          now: 0,
          leaseMillis: 1000
        })
        expect(jobs.map((j) => j.id)).toEqual(["job-a0", "job-a1", "job-b0", "job-b1", "job-b2"])
        expect((yield* s.get(jobId("c"))).state).toBe("queued")
      })
    )

    test(
      "concurrent claims never hand a job to two claimers",
      Effect.gen(function*() {
        const s = yield* store
        for (let i = 0; i < 60; i++) yield* s.enqueue(newJob(i), { now: 0 })
        const batches = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, i) => i),
          (i) => s.claim({ queues: [{ queue: "q", limit: 7 }], owner: `w${i}`, now: 1, leaseMillis: 1000 }),
          { concurrency: "unbounded" }
        )
        const ids = batches.flat().map((j) => j.id)
        expect(ids.length).toBe(60)
        expect(new Set(ids).size).toBe(60)
      })
    )

    test(
      "an expired lease is claimed again, its attempt counted and recorded as LeaseExpired",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob(1), { now: 0 })
        const first = yield* claimOne("dead", 0, 1000)
        expect(yield* s.claim({ queues: [{ queue: "q", limit: 1 }], owner: "w2", now: 999, leaseMillis: 1000 }))
          .toEqual([])
        const second = yield* claimOne("w2", 1000, 1000)
        expect(second.attempts).toBe(2)
        expect(second.lease!.owner).toBe("w2")
        expect(second.errors.map((e) => [e.tag, e.attempt])).toEqual([["LeaseExpired", 1]])
        // The dead worker's late result is refused and not stored.
        expect(yield* Effect.flip(s.complete(first.id, first.lease!.token, "late", 1001)))
          .toEqual(new JobStore.LeaseLost({ id: "job-1", operation: "complete" }))
        const done = yield* s.complete(second.id, second.lease!.token, "ok", 1002)
        expect(done).toMatchObject({ state: "succeeded", result: "ok", finishedAt: 1002 })
        expect(done.lease).toBeUndefined()
      })
    )

    test(
      "an expired lease with no attempts left ends failed with LeaseExpired",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob(1, { maxAttempts: 1 }), { now: 0 })
        yield* s.enqueue(newJob(2), { now: 0 })
        const first = yield* claimOne("dead", 0, 100)
        expect(first.id).toBe("job-1")
        // The failed job does not use up the claim's limit.
        const next = yield* claimOne("w", 100, 100)
        expect(next.id).toBe("job-2")
        const failed = yield* s.get(jobId(1))
        expect(failed).toMatchObject({ state: "failed", attempts: 1, finishedAt: 100 })
        expect(failed.lease).toBeUndefined()
        expect(failed.errors.map((e) => e.tag)).toEqual(["LeaseExpired"])
      })
    )

    test(
      "a heartbeat keeps the lease",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob(1), { now: 0 })
        const job = yield* claimOne("w", 0, 100)
        yield* s.heartbeat(job.id, job.lease!.token, 300, 50)
        expect(yield* s.claim({ queues: [{ queue: "q", limit: 1 }], owner: "x", now: 200, leaseMillis: 100 }))
          .toEqual([])
        expect((yield* s.get(job.id)).lease!.expiresAt).toBe(300)
        expect((yield* claimOne("x", 300, 100)).attempts).toBe(2)
      })
    )
  })

  describe(`${name}: lease holder writes`, () => {
    test(
      "writes with a stale token fail with LeaseLost and store nothing",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob(1), { now: 0 })
        yield* claimOne("w", 0)
        const before = yield* s.get(jobId(1))
        const id = jobId(1)
        const lost = (operation: string) => new JobStore.LeaseLost({ id, operation })
        expect(yield* Effect.flip(s.complete(id, "stale", 1, 5))).toEqual(lost("complete"))
        expect(yield* Effect.flip(s.fail(id, "stale", error(1, 5), { _tag: "Fail" }, 5))).toEqual(lost("fail"))
        expect(yield* Effect.flip(s.heartbeat(id, "stale", 9999, 5))).toEqual(lost("heartbeat"))
        expect(yield* Effect.flip(s.release(id, "stale", 5))).toEqual(lost("release"))
        expect(yield* Effect.flip(s.saveStep(id, "stale", "x", 1, 5))).toEqual(lost("saveStep"))
        expect(yield* Effect.flip(s.progress(id, "stale", 1, 5))).toEqual(lost("progress"))
        expect(yield* Effect.flip(s.complete(jobId("missing"), "stale", 1, 5)))
          .toEqual(new JobStore.LeaseLost({ id: "job-missing", operation: "complete" }))
        expect(yield* s.get(id)).toEqual(before)
      })
    )

    test(
      "fail: a counted retry keeps the attempt, a rate-limited one gives it back, Fail is final",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob(1), { now: 0 })
        const a = yield* claimOne("w", 0)
        const counted = yield* s.fail(
          a.id,
          a.lease!.token,
          error(1, 1),
          { _tag: "Retry", runAt: 100, counted: true },
          1
        )
        expect(counted).toMatchObject({ state: "retrying", runAt: 100, attempts: 1, rateLimited: 0 })
        expect(counted.lease).toBeUndefined()
        expect(yield* s.claim({ queues: [{ queue: "q", limit: 1 }], owner: "w", now: 99, leaseMillis: 10 }))
          .toEqual([])
        const b = yield* claimOne("w", 100)
        expect(b.attempts).toBe(2)
        const limited = yield* s.fail(
          b.id,
          b.lease!.token,
          error(2, 101),
          { _tag: "Retry", runAt: 200, counted: false },
          101
        )
        expect(limited).toMatchObject({ state: "retrying", runAt: 200, attempts: 1, rateLimited: 1 })
        const c = yield* claimOne("w", 200)
        expect(c.attempts).toBe(2)
        const failed = yield* s.fail(c.id, c.lease!.token, error(2, 201), { _tag: "Fail" }, 201)
        expect(failed).toMatchObject({ state: "failed", attempts: 2, rateLimited: 1, finishedAt: 201 })
        expect(failed.errors).toEqual([error(1, 1), error(2, 101), error(2, 201)])
      })
    )

    test(
      "release gives the job back at once without using its attempt",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob(1), { now: 0 })
        const a = yield* claimOne("w", 0)
        yield* s.release(a.id, a.lease!.token, 5)
        const released = yield* s.get(a.id)
        expect(released).toMatchObject({ state: "queued", attempts: 0 })
        expect(released.lease).toBeUndefined()
        expect((yield* claimOne("w2", 6)).attempts).toBe(1)
      })
    )

    test(
      "saveStep and progress are stored with the job",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob(1), { now: 0 })
        const a = yield* claimOne("w", 0)
        yield* s.saveStep(a.id, a.lease!.token, "generate", { piece: 1 }, 1)
        yield* s.saveStep(a.id, a.lease!.token, "bridge", null, 2)
        yield* s.progress(a.id, a.lease!.token, { done: 3, of: 4 }, 3)
        const job = yield* s.get(a.id)
        expect(job.steps).toEqual({ generate: { piece: 1 }, bridge: null })
        expect(job.progress).toEqual({ done: 3, of: 4 })
        expect(job.updatedAt).toBe(3)
        // Steps survive a retry: that is what lets a workflow resume.
        yield* s.fail(a.id, a.lease!.token, error(1, 4), { _tag: "Retry", runAt: 5, counted: true }, 4)
        expect((yield* claimOne("w", 5)).steps).toEqual({ generate: { piece: 1 }, bridge: null })
      })
    )
  })

  describe(`${name}: release later, retry, counts, trace context`, () => {
    test(
      "release with a later runAt schedules the job until then, its attempt given back",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob(1), { now: 0 })
        const a = yield* claimOne("w", 0)
        yield* s.saveStep(a.id, a.lease!.token, "nap", { wakeAt: 600_000 }, 1)
        yield* s.release(a.id, a.lease!.token, 2, 600_000)
        const released = yield* s.get(a.id)
        expect(released).toMatchObject({ state: "scheduled", runAt: 600_000, attempts: 0, steps: { nap: {} } })
        expect(released.lease).toBeUndefined()
        expect(yield* s.claim({ queues: [{ queue: "q", limit: 1 }], owner: "w", now: 599_999, leaseMillis: 10 }))
          .toEqual([])
        const again = yield* claimOne("w", 600_000)
        expect(again).toMatchObject({ attempts: 1, steps: { nap: { wakeAt: 600_000 } } })
        // A runAt that is not later than now is a plain release.
        yield* s.release(again.id, again.lease!.token, 600_001, 5)
        expect(yield* s.get(a.id)).toMatchObject({ state: "queued", runAt: 600_000, attempts: 0 })
      })
    )

    test(
      "retry re-queues a failed or cancelled job with attempts reset, keeping its errors and steps",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob(1, { maxAttempts: 1 }), { now: 0 })
        const a = yield* claimOne("w", 0)
        yield* s.saveStep(a.id, a.lease!.token, "generate", { piece: 1 }, 1)
        yield* s.fail(a.id, a.lease!.token, error(1, 2), { _tag: "Fail" }, 2)
        const retried = yield* s.retry(a.id, 10)
        expect(retried).toMatchObject({
          state: "queued",
          attempts: 0,
          rateLimited: 0,
          runAt: 10,
          updatedAt: 10,
          errors: [error(1, 2)],
          steps: { generate: { piece: 1 } }
        })
        expect(retried.finishedAt).toBeUndefined()
        expect(yield* s.get(a.id)).toEqual(retried)
        const b = yield* claimOne("w", 11)
        expect(b).toMatchObject({ id: "job-1", attempts: 1 })
        yield* s.complete(b.id, b.lease!.token, "ok", 12)
        // Cancelled jobs too.
        yield* s.enqueue(newJob(2), { now: 20 })
        yield* s.cancel(jobId(2), 21)
        expect(yield* s.retry(jobId(2), 22)).toMatchObject({ state: "queued", runAt: 22 })
        expect(yield* Effect.flip(s.retry(jobId(9), 1))).toEqual(new JobStore.JobNotFound({ id: "job-9" }))
      })
    )

    test(
      "retry of a job that is not failed or cancelled is JobNotRetryable naming its state, and changes nothing",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob("queued"), { now: 0 })
        yield* s.enqueue(newJob("scheduled", { runAt: 100 }), { now: 0 })
        yield* s.enqueue(newJob("done"), { now: 0 })
        const running = yield* claimOne("w", 1)
        expect(running.id).toBe("job-queued")
        const done = yield* claimOne("w", 1)
        yield* s.complete(done.id, done.lease!.token, 1, 2)
        for (const [id, state] of [["queued", "running"], ["scheduled", "scheduled"], ["done", "succeeded"]]) {
          const before = yield* s.get(jobId(id!))
          expect(yield* Effect.flip(s.retry(jobId(id!), 3))).toEqual(
            new JobStore.JobNotRetryable({ id: `job-${id}`, state: state! })
          )
          expect(yield* s.get(jobId(id!))).toEqual(before)
        }
        expect(new JobStore.JobNotRetryable({ id: "job-1", state: "succeeded" }).message)
          .toBe("job job-1 has succeeded: only a failed or cancelled job can be retried")
      })
    )

    test(
      "retry of a job whose dedupe key another job holds now is DuplicateJob naming that job",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob(1, { dedupeKey: "k" }), { now: 0 })
        yield* s.cancel(jobId(1), 1)
        yield* s.enqueue(newJob(2, { dedupeKey: "k" }), { now: 2 })
        expect(yield* Effect.flip(s.retry(jobId(1), 3)))
          .toEqual(new JobStore.DuplicateJob({ dedupeKey: "k", existing: "job-2" }))
        expect((yield* s.get(jobId(1))).state).toBe("cancelled")
        yield* s.cancel(jobId(2), 4)
        // Free again: the retried job holds the key.
        expect((yield* s.retry(jobId(1), 5)).state).toBe("queued")
        expect(yield* Effect.flip(s.enqueue(newJob(3, { dedupeKey: "k" }), { now: 6, dedupe: "reject" })))
          .toEqual(new JobStore.DuplicateJob({ dedupeKey: "k", existing: "job-1" }))
      })
    )

    test(
      "counts gives every state, kept true by every write and by prune",
      Effect.gen(function*() {
        const s = yield* store
        const zero = {
          scheduled: 0,
          queued: 0,
          running: 0,
          retrying: 0,
          succeeded: 0,
          failed: 0,
          cancelled: 0
        }
        expect(yield* s.counts).toEqual(zero)
        for (let i = 0; i < 6; i++) yield* s.enqueue(newJob(i), { now: 0 })
        yield* s.enqueue(newJob("later", { runAt: 100 }), { now: 0 })
        const [a, b, c, d] = yield* s.claim({ queues: [{ queue: "q", limit: 4 }], owner: "w", now: 1, leaseMillis: 50 })
        yield* s.complete(a!.id, a!.lease!.token, 1, 2)
        yield* s.fail(b!.id, b!.lease!.token, error(1, 2), { _tag: "Retry", runAt: 10, counted: true }, 2)
        yield* s.fail(c!.id, c!.lease!.token, error(1, 2), { _tag: "Fail" }, 2)
        yield* s.cancel(jobId(5), 3)
        expect(yield* s.counts).toEqual({
          ...zero,
          scheduled: 1,
          queued: 1,
          running: 1,
          retrying: 1,
          succeeded: 1,
          failed: 1,
          cancelled: 1
        })
        yield* s.release(d!.id, d!.lease!.token, 4)
        yield* s.retry(c!.id, 5)
        expect(yield* s.counts).toEqual({ ...zero, scheduled: 1, queued: 3, retrying: 1, succeeded: 1, cancelled: 1 })
        expect(yield* s.prune({ keep: 0 })).toBe(2)
        expect(yield* s.counts).toEqual({ ...zero, scheduled: 1, queued: 3, retrying: 1 })
      })
    )

    test(
      "a job keeps the traceparent it was submitted with",
      Effect.gen(function*() {
        const s = yield* store
        const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        const { job } = yield* s.enqueue(newJob(1, { traceparent }), { now: 0 })
        expect(job.traceparent).toBe(traceparent)
        expect((yield* claimOne("w", 1)).traceparent).toBe(traceparent)
        yield* s.enqueue(newJob(2), { now: 0 })
        expect((yield* s.get(jobId(2))).traceparent).toBeUndefined()
      })
    )
  })

  describe(`${name}: cancel`, () => {
    test(
      "a queued job never starts; a running job's worker is refused; a final job is unchanged",
      Effect.gen(function*() {
        const s = yield* store
        yield* s.enqueue(newJob(1), { now: 0 })
        yield* s.enqueue(newJob(2), { now: 0 })
        const cancelled = yield* s.cancel(jobId(1), 1)
        expect(cancelled).toMatchObject({ state: "cancelled", finishedAt: 1 })
        const running = yield* claimOne("w", 2)
        expect(running.id).toBe("job-2")
        const c2 = yield* s.cancel(running.id, 3)
        expect(c2.state).toBe("cancelled")
        expect(c2.lease).toBeUndefined()
        expect(yield* Effect.flip(s.complete(running.id, running.lease!.token, 1, 4)))
          .toEqual(new JobStore.LeaseLost({ id: "job-2", operation: "complete" }))
        expect(yield* s.cancel(running.id, 5)).toEqual(c2)
        expect(yield* s.claim({ queues: [{ queue: "q", limit: 5 }], owner: "w", now: 10_000, leaseMillis: 1 }))
          .toEqual([])
        expect(yield* Effect.flip(s.cancel(jobId(9), 1))).toEqual(new JobStore.JobNotFound({ id: "job-9" }))
      })
    )
  })

  describe(`${name}: queries`, () => {
    test(
      "list filters by type, state and creation time, in pages",
      Effect.gen(function*() {
        const s = yield* store
        for (let i = 0; i < 10; i++) {
          yield* s.enqueue(newJob(i, { type: i % 2 === 0 ? "even" : "odd" }), { now: i * 10 })
        }
        yield* s.cancel(jobId(4), 200)
        const ids = (jobs: ReadonlyArray<JobRecord>) => jobs.map((j) => j.id)
        expect(ids((yield* s.list({ types: ["even"] }, {})).jobs)).toEqual([
          "job-0",
          "job-2",
          "job-4",
          "job-6",
          "job-8"
        ])
        expect(ids((yield* s.list({ states: ["cancelled"] }, {})).jobs)).toEqual(["job-4"])
        expect(ids((yield* s.list({ createdFrom: 20, createdTo: 50 }, {})).jobs)).toEqual(["job-2", "job-3", "job-4"])
        expect(ids((yield* s.list({ types: ["odd"], states: ["queued"], createdFrom: 30 }, {})).jobs))
          .toEqual(["job-3", "job-5", "job-7", "job-9"])
        const seen: Array<string> = []
        let after: number | undefined = undefined
        let pages = 0
        do {
          const page: { readonly jobs: ReadonlyArray<JobRecord>; readonly next: number | undefined } = yield* s.list(
            { types: ["even"] },
            { after, limit: 2 }
          )
          seen.push(...ids(page.jobs))
          after = page.next
          pages += 1
        } while (after !== undefined && pages < 10)
        expect(seen).toEqual(["job-0", "job-2", "job-4", "job-6", "job-8"])
        expect(pages).toBe(3)
        const exact = yield* s.list({}, { limit: 10 })
        expect(exact.jobs.length).toBe(10)
        expect(exact.next).toBeUndefined()
      })
    )

    test(
      "changes returns jobs written after a cursor, each once, as they are now",
      Effect.gen(function*() {
        const s = yield* store
        const start = (yield* s.changes(0, 100)).revision
        yield* s.enqueue(newJob(1), { now: 0 })
        yield* s.enqueue(newJob(2), { now: 0 })
        yield* s.enqueue(newJob(3), { now: 0 })
        const all = yield* s.changes(start, 100)
        expect(all.jobs.map((j) => j.id)).toEqual(["job-1", "job-2", "job-3"])
        const cursor = all.revision
        const a = yield* claimOne("w", 1)
        yield* s.progress(a.id, a.lease!.token, 50, 2)
        yield* s.cancel(jobId(3), 3)
        const next = yield* s.changes(cursor, 100)
        expect(next.jobs.map((j) => [j.id, j.state])).toEqual([["job-1", "running"], ["job-3", "cancelled"]])
        expect(next.jobs[0]!.progress).toBe(50)
        // A small limit pages through in revision order.
        const page1 = yield* s.changes(start, 2)
        expect(page1.jobs.map((j) => j.id)).toEqual(["job-2", "job-1"])
        const page2 = yield* s.changes(page1.revision, 2)
        expect(page2.jobs.map((j) => j.id)).toEqual(["job-3"])
        expect(yield* s.changes(page2.revision, 2)).toEqual({ jobs: [], revision: page2.revision })
      })
    )

    test(
      "prune deletes only final jobs, by age and beyond a count",
      Effect.gen(function*() {
        const s = yield* store
        for (let i = 0; i < 6; i++) yield* s.enqueue(newJob(i), { now: 0 })
        for (let i = 0; i < 4; i++) yield* s.cancel(jobId(i), 100 * (i + 1)) // finished at 100..400
        expect(yield* s.prune({ finishedBefore: 250 })).toBe(2)
        const remaining = (yield* s.list({}, {})).jobs.map((j) => j.id)
        expect(remaining).toEqual(["job-2", "job-3", "job-4", "job-5"])
        expect(yield* s.prune({ keep: 1 })).toBe(1)
        expect((yield* s.list({}, {})).jobs.map((j) => j.id)).toEqual(["job-3", "job-4", "job-5"])
        expect(yield* s.prune({ keep: 0, finishedBefore: 0 })).toBe(1)
        expect((yield* s.list({}, {})).jobs.map((j) => j.id)).toEqual(["job-4", "job-5"])
        expect(yield* s.prune({})).toBe(0)
      })
    )

    test(
      "wakeups signal a submission",
      Effect.gen(function*() {
        const s = yield* store
        const fiber = yield* Effect.fork(Stream.runCollect(Stream.take(s.wakeups, 1)))
        // Lets the stream subscribe before the submission.
        for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
        yield* s.enqueue(newJob(1), { now: 0 })
        expect(Chunk.size(yield* Fiber.join(fiber))).toBe(1)
      })
    )
  })

  describe(`${name}: against a reference model`, () => {
    it.effect.prop(
      "random operation sequences: states, attempts and claims agree with the model",
      { ops: fc.array(operation, { minLength: 20, maxLength: 80 }) },
      ({ ops }) => Effect.provide(runAgainstModel(ops), layer()),
      { fastCheck: { numRuns: 50 }, timeout: 60_000 }
    )
  })
}

// --- the reference model --------------------------------------------------------------------------

type Op =
  | { readonly _tag: "Enqueue"; readonly priority: number; readonly delay: number; readonly maxAttempts: number }
  | { readonly _tag: "Claim"; readonly limit: number }
  | { readonly _tag: "Complete"; readonly pick: number }
  | {
    readonly _tag: "Fail"
    readonly pick: number
    readonly kind: "counted" | "limited" | "fatal"
    readonly delay: number
  }
  | { readonly _tag: "Release"; readonly pick: number }
  | { readonly _tag: "Cancel"; readonly pick: number }
  | { readonly _tag: "Retry"; readonly pick: number }
  | { readonly _tag: "Advance"; readonly millis: number }

const weighted = <A>(weight: number, arbitrary: fc.Arbitrary<A>) => ({ weight, arbitrary })

// Weighted so that a run holds several jobs and most operations find one to act on.
const operation: fc.Arbitrary<Op> = fc.oneof(
  weighted(
    4,
    fc.record({
      _tag: fc.constant("Enqueue" as const),
      priority: fc.integer({ min: 0, max: 2 }),
      delay: fc.integer({ min: 0, max: 3 }).map((n) => n * 50),
      maxAttempts: fc.integer({ min: 1, max: 3 })
    })
  ),
  weighted(4, fc.record({ _tag: fc.constant("Claim" as const), limit: fc.integer({ min: 1, max: 3 }) })),
  weighted(2, fc.record({ _tag: fc.constant("Complete" as const), pick: fc.nat() })),
  weighted(
    4,
    fc.record({
      _tag: fc.constant("Fail" as const),
      pick: fc.nat(),
      kind: fc.constantFrom("counted" as const, "limited" as const, "fatal" as const),
      delay: fc.integer({ min: 0, max: 2 }).map((n) => n * 50)
    })
  ),
  weighted(1, fc.record({ _tag: fc.constant("Release" as const), pick: fc.nat() })),
  weighted(1, fc.record({ _tag: fc.constant("Cancel" as const), pick: fc.nat() })),
  weighted(1, fc.record({ _tag: fc.constant("Retry" as const), pick: fc.nat() })),
  weighted(
    2,
    fc.record({ _tag: fc.constant("Advance" as const), millis: fc.integer({ min: 1, max: 4 }).map((n) => n * 40) })
  )
)

interface ModelJob {
  id: JobId
  state: JobRecord["state"]
  priority: number
  runAt: number
  sequence: number
  attempts: number
  maxAttempts: number
  rateLimited: number
  expiresAt: number
  token: string | undefined
}

const leaseMillis = 100

const runAgainstModel = (ops: ReadonlyArray<Op>) =>
  Effect.gen(function*() {
    const s = yield* store
    const model: Array<ModelJob> = []
    let now = 1000
    const running = () => model.filter((j) => j.state === "running" && j.expiresAt > now)
    const final = (j: ModelJob) => j.state === "succeeded" || j.state === "failed" || j.state === "cancelled"
    for (const op of ops) {
      switch (op._tag) {
        case "Enqueue": {
          const id = jobId(model.length)
          const runAt = now + op.delay
          yield* s.enqueue(newJob(model.length, { priority: op.priority, runAt, maxAttempts: op.maxAttempts }), { now })
          model.push({
            id,
            state: runAt > now ? "scheduled" : "queued",
            priority: op.priority,
            runAt,
            sequence: model.length,
            attempts: 0,
            maxAttempts: op.maxAttempts,
            rateLimited: 0,
            expiresAt: 0,
            token: undefined
          })
          break
        }
        case "Claim": {
          for (const j of model) {
            if (j.state === "running" && j.expiresAt <= now && j.attempts >= j.maxAttempts) {
              j.state = "failed"
              j.token = undefined
            }
          }
          const due = model.filter((j) =>
            j.state === "queued" ||
            ((j.state === "scheduled" || j.state === "retrying") && j.runAt <= now) ||
            (j.state === "running" && j.expiresAt <= now)
          ).sort((a, b) => a.priority - b.priority || a.runAt - b.runAt || a.sequence - b.sequence)
            .slice(0, op.limit)
          const claimed = yield* s.claim({ queues: [{ queue: "q", limit: op.limit }], owner: "w", now, leaseMillis })
          expect(claimed.map((j) => j.id)).toEqual(due.map((j) => j.id))
          claimed.forEach((record, i) => {
            const j = due[i]!
            j.state = "running"
            j.attempts += 1
            j.expiresAt = now + leaseMillis
            j.token = record.lease!.token
          })
          break
        }
        case "Complete":
        case "Fail":
        case "Release": {
          const held = running()
          if (held.length === 0) break
          const j = held[op.pick % held.length]!
          if (op._tag === "Complete") {
            yield* s.complete(j.id, j.token!, "ok", now)
            j.state = "succeeded"
          } else if (op._tag === "Release") {
            yield* s.release(j.id, j.token!, now)
            j.state = "queued"
            j.attempts -= 1
          } else if (op.kind === "fatal" || (op.kind === "counted" && j.attempts >= j.maxAttempts)) {
            // As the supervisor does: a counted retry with no attempts left is a final failure.
            yield* s.fail(j.id, j.token!, error(j.attempts, now), { _tag: "Fail" }, now)
            j.state = "failed"
          } else {
            const counted = op.kind === "counted"
            yield* s.fail(
              j.id,
              j.token!,
              error(j.attempts, now),
              { _tag: "Retry", runAt: now + op.delay, counted },
              now
            )
            j.state = "retrying"
            j.runAt = now + op.delay
            if (!counted) {
              j.attempts -= 1
              j.rateLimited += 1
            }
          }
          j.token = undefined
          break
        }
        case "Cancel": {
          if (model.length === 0) break
          const j = model[op.pick % model.length]!
          const stale = j.token
          yield* s.cancel(j.id, now)
          if (!final(j)) j.state = "cancelled"
          j.token = undefined
          if (stale !== undefined) {
            expect(yield* Effect.either(s.complete(j.id, stale, "late", now))).toSatisfy(Either.isLeft)
          }
          break
        }
        case "Retry": {
          if (model.length === 0) break
          const j = model[op.pick % model.length]!
          const result = yield* Effect.either(s.retry(j.id, now))
          if (j.state === "failed" || j.state === "cancelled") {
            expect(result).toSatisfy(Either.isRight)
            j.state = "queued"
            j.attempts = 0
            j.rateLimited = 0
            j.runAt = now
          } else {
            // A running job whose lease expired is still `running` until claimed.
            expect(result).toEqual(Either.left(new JobStore.JobNotRetryable({ id: j.id, state: j.state })))
          }
          break
        }
        case "Advance":
          now += op.millis
          break
      }
      for (const j of model) {
        const record = yield* s.get(j.id)
        expect({ id: record.id, state: record.state, attempts: record.attempts, rateLimited: record.rateLimited })
          .toEqual({ id: j.id, state: j.state, attempts: j.attempts, rateLimited: j.rateLimited })
        expect(record.attempts).toBeLessThanOrEqual(record.maxAttempts)
      }
    }
  })
