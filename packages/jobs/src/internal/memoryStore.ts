/**
 * The in-memory `JobStore`. Every operation is one synchronous section (a
 * JavaScript turn), so it is atomic without locks. Due jobs are indexed per
 * queue by three heaps, so a claim costs O(k log n), never a scan:
 *
 * - `ready`: claimable now, by (priority, runAt, sequence);
 * - `delayed`: `scheduled` / `retrying`, by `runAt` (moved to `ready` when due);
 * - `leases`: `running`, by lease expiry (moved to `ready`, or failed, when expired).
 *
 * A heap entry carries the job's generation at push time; any write that
 * changes where a job belongs bumps the generation, so old entries are
 * skipped when they surface instead of being searched for and removed.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import type { DedupeMode, JobFilter, JobId, JobRecord, NewJob, Page, PageRequest, StoredError } from "../Job.js"
import { finalStates } from "../Job.js"
import { DuplicateJob, JobNotFound, JobNotRetryable, LeaseLost, StoreFailure } from "../JobErrors.js"
import type { ClaimRequest, Outcome, Service } from "../JobStore.js"
import { Heap } from "./heap.js"
import {
  defaultPageLimit,
  emptyCounts,
  leaseExpiredError,
  makeToken,
  matchesFilter,
  retryableStates,
  withoutLease
} from "./storeCommon.js"

interface Slot {
  record: JobRecord
  gen: number
}

interface ReadyEntry {
  readonly id: string
  readonly priority: number
  readonly runAt: number
  readonly sequence: number
  readonly gen: number
}

interface TimedEntry {
  readonly id: string
  readonly at: number
  readonly gen: number
}

interface QueueIndex {
  readonly ready: Heap<ReadyEntry>
  readonly delayed: Heap<TimedEntry>
  readonly leases: Heap<TimedEntry>
}

const readyLess = (a: ReadyEntry, b: ReadyEntry): boolean =>
  a.priority !== b.priority
    ? a.priority < b.priority
    : a.runAt !== b.runAt
    ? a.runAt < b.runAt
    : a.sequence < b.sequence

const timedLess = (a: TimedEntry, b: TimedEntry): boolean => a.at < b.at

/** Index of the first element of a sorted array greater than `value`. */
const upperBound = (sorted: ReadonlyArray<number>, value: number): number => {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (sorted[mid]! <= value) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** @internal */
export const make: Effect.Effect<Service> = Effect.gen(function*() {
  const wakeupHub = yield* PubSub.sliding<void>(1)
  const jobs = new Map<string, Slot>()
  const dedupe = new Map<string, string>()
  const queues = new Map<string, QueueIndex>()
  // Submission order, for `list`: parallel arrays, pruned lazily.
  let seqIds: Array<string> = []
  let seqs: Array<number> = []
  // Write order, for `changes`: one entry per write, stale once the job is written again.
  let revIds: Array<string> = []
  let revs: Array<number> = []
  let sequence = 0
  let revision = 0
  // Kept up to date by every write and prune, so `counts` is O(1).
  const stateCounts = emptyCounts()

  const queueIndex = (queue: string): QueueIndex => {
    let index = queues.get(queue)
    if (index === undefined) {
      index = { ready: new Heap(readyLess), delayed: new Heap(timedLess), leases: new Heap(timedLess) }
      queues.set(queue, index)
    }
    return index
  }

  const pushReady = (index: QueueIndex, slot: Slot) =>
    index.ready.push({
      id: slot.record.id,
      priority: slot.record.priority,
      runAt: slot.record.runAt,
      sequence: slot.record.sequence,
      gen: slot.gen
    })

  /** Stores `next` with a fresh revision and files it in the index its state calls for. */
  const write = (slot: Slot, next: JobRecord): JobRecord => {
    revision += 1
    const record: JobRecord = { ...next, revision }
    // A new slot has no record yet.
    if (slot.record !== undefined) stateCounts[slot.record.state] -= 1
    stateCounts[record.state] += 1
    slot.record = record
    slot.gen += 1
    revIds.push(record.id)
    revs.push(revision)
    if (revIds.length > 1024 && revIds.length > 2 * jobs.size) compactRevisions()
    if (finalStates.has(record.state)) {
      if (record.dedupeKey !== undefined && dedupe.get(record.dedupeKey) === record.id) dedupe.delete(record.dedupeKey)
    } else {
      const index = queueIndex(record.queue)
      switch (record.state) {
        case "queued":
          pushReady(index, slot)
          break
        case "scheduled":
        case "retrying":
          index.delayed.push({ id: record.id, at: record.runAt, gen: slot.gen })
          break
        case "running":
          index.leases.push({ id: record.id, at: record.lease?.expiresAt ?? 0, gen: slot.gen })
          break
      }
    }
    return record
  }

  const compactRevisions = () => {
    const ids: Array<string> = []
    const rs: Array<number> = []
    for (let i = 0; i < revIds.length; i++) {
      if (jobs.get(revIds[i]!)?.record.revision === revs[i]) {
        ids.push(revIds[i]!)
        rs.push(revs[i]!)
      }
    }
    revIds = ids
    revs = rs
  }

  const compactSequences = () => {
    const ids: Array<string> = []
    const ss: Array<number> = []
    for (let i = 0; i < seqIds.length; i++) {
      if (jobs.has(seqIds[i]!)) {
        ids.push(seqIds[i]!)
        ss.push(seqs[i]!)
      }
    }
    seqIds = ids
    seqs = ss
  }

  const live = (id: string, gen: number): Slot | undefined => {
    const slot = jobs.get(id)
    return slot !== undefined && slot.gen === gen ? slot : undefined
  }

  /** The slot of a running job whose current lease has `token`, or `LeaseLost`. */
  const held = (id: JobId, token: string, operation: string): Slot => {
    const slot = jobs.get(id)
    if (slot === undefined || slot.record.state !== "running" || slot.record.lease?.token !== token) {
      throw new LeaseLost({ id, operation })
    }
    return slot
  }

  /** Runs a synchronous section that may throw one of the store's typed errors. */
  const atomically = <A, E>(section: () => A, isError: (u: unknown) => u is E): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      try {
        return Effect.succeed(section())
      } catch (error) {
        if (isError(error)) return Effect.fail(error)
        throw error
      }
    })

  const isLeaseLost = (u: unknown): u is LeaseLost => u instanceof LeaseLost
  const wake = PubSub.publish(wakeupHub, undefined)

  const enqueue = (job: NewJob, options: { readonly now: number; readonly dedupe?: DedupeMode | undefined }) =>
    atomically(
      (): { readonly job: JobRecord; readonly created: boolean } => {
        if (jobs.has(job.id)) {
          throw new StoreFailure({ operation: "enqueue", reason: `job id ${job.id} already exists` })
        }
        if (job.dedupeKey !== undefined) {
          const existingId = dedupe.get(job.dedupeKey)
          if (existingId !== undefined) {
            const existing = jobs.get(existingId)!.record
            if (options.dedupe === "existing") return { job: existing, created: false }
            throw new DuplicateJob({ dedupeKey: job.dedupeKey, existing: existingId })
          }
        }
        sequence += 1
        const slot: Slot = { record: undefined as unknown as JobRecord, gen: 0 }
        jobs.set(job.id, slot)
        seqIds.push(job.id)
        seqs.push(sequence)
        if (job.dedupeKey !== undefined) dedupe.set(job.dedupeKey, job.id)
        const record = write(slot, {
          id: job.id,
          type: job.type,
          queue: job.queue,
          state: job.runAt > options.now ? "scheduled" : "queued",
          payload: job.payload,
          priority: job.priority,
          attempts: 0,
          maxAttempts: job.maxAttempts,
          rateLimited: 0,
          maxRateLimited: job.maxRateLimited,
          runAt: job.runAt,
          createdAt: options.now,
          sequence,
          updatedAt: options.now,
          revision: 0,
          ...(job.dedupeKey !== undefined ? { dedupeKey: job.dedupeKey } : {}),
          ...(job.traceparent !== undefined ? { traceparent: job.traceparent } : {}),
          errors: [],
          steps: {}
        })
        return { job: record, created: true }
      },
      (u): u is DuplicateJob | StoreFailure => u instanceof DuplicateJob || u instanceof StoreFailure
    ).pipe(Effect.tap(({ created }) => created ? wake : Effect.void))

  const claimQueue = (index: QueueIndex, limit: number, request: ClaimRequest, tokens: () => string) => {
    const now = request.now
    const claimed: Array<JobRecord> = []
    for (let top = index.delayed.peek(); top !== undefined && top.at <= now; top = index.delayed.peek()) {
      index.delayed.pop()
      const slot = live(top.id, top.gen)
      if (slot !== undefined) pushReady(index, slot)
    }
    for (let top = index.leases.peek(); top !== undefined && top.at <= now; top = index.leases.peek()) {
      index.leases.pop()
      const slot = live(top.id, top.gen)
      if (slot === undefined) continue
      if (slot.record.attempts >= slot.record.maxAttempts) {
        // A job that keeps killing its worker must not loop forever.
        write(slot, {
          ...withoutLease(slot.record),
          state: "failed",
          errors: [...slot.record.errors, leaseExpiredError(slot.record, now)],
          finishedAt: now,
          updatedAt: now
        })
      } else {
        pushReady(index, slot)
      }
    }
    while (claimed.length < limit) {
      const top = index.ready.pop()
      if (top === undefined) break
      const slot = live(top.id, top.gen)
      if (slot === undefined) continue
      const record = slot.record
      const errors: ReadonlyArray<StoredError> = record.state === "running"
        ? [...record.errors, leaseExpiredError(record, now)]
        : record.errors
      claimed.push(write(slot, {
        ...record,
        state: "running",
        attempts: record.attempts + 1,
        lease: { owner: request.owner, token: tokens(), expiresAt: now + request.leaseMillis },
        errors,
        startedAt: now,
        updatedAt: now
      }))
    }
    return claimed
  }

  const claim = (request: ClaimRequest) =>
    Effect.gen(function*() {
      // One draw from Effect's Random per claim, made before the synchronous
      // section; each job's token is that base plus its index in the claim.
      const base = (yield* makeToken).slice(0, 24)
      let next = 0
      return yield* Effect.sync(() => {
        const claimed: Array<JobRecord> = []
        for (const { limit, queue } of request.queues) {
          const index = queues.get(queue)
          if (index === undefined || limit <= 0) continue
          claimed.push(...claimQueue(index, limit, request, () => base + (next++).toString(16).padStart(8, "0")))
        }
        return claimed as ReadonlyArray<JobRecord>
      })
    })

  const heartbeat = (id: JobId, token: string, expiresAt: number, now: number) =>
    atomically(() => {
      const slot = held(id, token, "heartbeat")
      write(slot, { ...slot.record, lease: { ...slot.record.lease!, expiresAt }, updatedAt: now })
    }, isLeaseLost)

  const complete = (id: JobId, token: string, result: unknown, now: number) =>
    atomically(() => {
      const slot = held(id, token, "complete")
      return write(slot, {
        ...withoutLease(slot.record),
        state: "succeeded",
        result,
        finishedAt: now,
        updatedAt: now
      })
    }, isLeaseLost)

  const fail = (id: JobId, token: string, error: StoredError, outcome: Outcome, now: number) =>
    atomically(() => {
      const slot = held(id, token, "fail")
      const record = withoutLease(slot.record)
      const errors = [...record.errors, error]
      if (outcome._tag === "Fail") {
        return write(slot, { ...record, state: "failed", errors, finishedAt: now, updatedAt: now })
      }
      return write(slot, {
        ...record,
        state: "retrying",
        runAt: outcome.runAt,
        attempts: outcome.counted ? record.attempts : record.attempts - 1,
        rateLimited: outcome.counted ? record.rateLimited : record.rateLimited + 1,
        errors,
        updatedAt: now
      })
    }, isLeaseLost).pipe(Effect.tap(wake))

  const release = (id: JobId, token: string, now: number, runAt?: number) =>
    atomically(() => {
      const slot = held(id, token, "release")
      const record = withoutLease(slot.record)
      const later = runAt !== undefined && runAt > now
      write(slot, {
        ...record,
        state: later ? "scheduled" : "queued",
        ...(later ? { runAt } : {}),
        attempts: record.attempts - 1,
        updatedAt: now
      })
    }, isLeaseLost).pipe(Effect.zipLeft(wake))

  const saveStep = (id: JobId, token: string, name: string, value: unknown, now: number) =>
    atomically(() => {
      const slot = held(id, token, "saveStep")
      write(slot, { ...slot.record, steps: { ...slot.record.steps, [name]: value }, updatedAt: now })
    }, isLeaseLost)

  const progress = (id: JobId, token: string, value: unknown, now: number) =>
    atomically(() => {
      const slot = held(id, token, "progress")
      write(slot, { ...slot.record, progress: value, updatedAt: now })
    }, isLeaseLost)

  const cancel = (id: JobId, now: number) =>
    atomically(() => {
      const slot = jobs.get(id)
      if (slot === undefined) throw new JobNotFound({ id })
      if (finalStates.has(slot.record.state)) return slot.record
      return write(slot, { ...withoutLease(slot.record), state: "cancelled", finishedAt: now, updatedAt: now })
    }, (u): u is JobNotFound => u instanceof JobNotFound)

  const retry = (id: JobId, now: number) =>
    atomically(
      () => {
        const slot = jobs.get(id)
        if (slot === undefined) throw new JobNotFound({ id })
        const record = slot.record
        if (!retryableStates.has(record.state)) throw new JobNotRetryable({ id, state: record.state })
        if (record.dedupeKey !== undefined) {
          const holder = dedupe.get(record.dedupeKey)
          if (holder !== undefined && holder !== id) {
            throw new DuplicateJob({ dedupeKey: record.dedupeKey, existing: holder })
          }
          dedupe.set(record.dedupeKey, id)
        }
        const { finishedAt: _finishedAt, ...rest } = withoutLease(record)
        return write(slot, { ...rest, state: "queued", attempts: 0, rateLimited: 0, runAt: now, updatedAt: now })
      },
      (u): u is JobNotFound | JobNotRetryable | DuplicateJob =>
        u instanceof JobNotFound || u instanceof JobNotRetryable || u instanceof DuplicateJob
    ).pipe(Effect.tap(wake))

  const counts = Effect.sync(() => ({ ...stateCounts }))

  const get = (id: JobId) =>
    Effect.suspend(() => {
      const slot = jobs.get(id)
      return slot === undefined ? Effect.fail(new JobNotFound({ id })) : Effect.succeed(slot.record)
    })

  const list = (filter: JobFilter, page: PageRequest) =>
    Effect.sync((): Page => {
      const limit = Math.max(0, page.limit ?? defaultPageLimit)
      const out: Array<JobRecord> = []
      let more = false
      for (let i = page.after === undefined ? 0 : upperBound(seqs, page.after); i < seqIds.length; i++) {
        const slot = jobs.get(seqIds[i]!)
        if (slot === undefined || !matchesFilter(slot.record, filter)) continue
        if (out.length === limit) {
          more = true
          break
        }
        out.push(slot.record)
      }
      return { jobs: out, next: more && out.length > 0 ? out[out.length - 1]!.sequence : undefined }
    })

  const changes = (after: number, limit: number) =>
    Effect.sync(() => {
      const out: Array<JobRecord> = []
      let cursor = revision
      for (let i = upperBound(revs, after); i < revIds.length; i++) {
        const record = jobs.get(revIds[i]!)?.record
        if (record === undefined || record.revision !== revs[i]) continue
        if (out.length === limit) {
          cursor = out[out.length - 1]!.revision
          break
        }
        out.push(record)
      }
      return { jobs: out as ReadonlyArray<JobRecord>, revision: Math.max(after, cursor) }
    })

  const prune = (options: { readonly finishedBefore?: number | undefined; readonly keep?: number | undefined }) =>
    Effect.sync(() => {
      const finished: Array<JobRecord> = []
      for (const slot of jobs.values()) if (finalStates.has(slot.record.state)) finished.push(slot.record)
      // Most recent first: the ones `keep` keeps.
      finished.sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0) || b.sequence - a.sequence)
      let deleted = 0
      finished.forEach((record, i) => {
        const old = options.finishedBefore !== undefined && (record.finishedAt ?? 0) < options.finishedBefore
        const beyond = options.keep !== undefined && i >= options.keep
        if (old || beyond) {
          jobs.delete(record.id)
          stateCounts[record.state] -= 1
          deleted += 1
        }
      })
      if (deleted > 0 && seqIds.length > 2 * jobs.size) compactSequences()
      return deleted
    })

  return {
    enqueue,
    claim,
    heartbeat,
    complete,
    fail,
    release,
    saveStep,
    progress,
    cancel,
    retry,
    get,
    counts,
    list,
    changes,
    prune,
    wakeups: Stream.fromPubSub(wakeupHub)
  } satisfies Service
})
