/**
 * The supervisor's machinery: state, the claim loop, shutdown, retention and
 * the jobs-by-state sampler. Submitting and waiting live in
 * `supervisorClient.ts`, running one attempt in `supervisorAttempt.ts`.
 *
 * @internal
 */
import { InvalidPolicy } from "@bulwark/core/Errors"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as FiberMap from "effect/FiberMap"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { JobId, JobRecord } from "../Job.js"
import { JobState } from "../Job.js"
import * as JobMetrics from "../JobMetrics.js"
import { JobStore } from "../JobStore.js"
import type * as JobSupervisor from "../JobSupervisor.js"
import type * as JobType from "../JobType.js"
import { runAttempt } from "./supervisorAttempt.js"
import { client } from "./supervisorClient.js"
import { randomHex } from "./supervisorOutcome.js"

/** @internal */
export interface QueueState {
  readonly name: string
  limit: number
  readonly types: Array<JobType.Any>
  running: number
  /** When a breaker pause ends (epoch ms); a wakeup is scheduled for it. */
  pausedUntil: number
  /** `JobMetrics.running` tagged with this queue, once. */
  readonly runningGauge: Metric.Metric.Gauge<number>
}

/**
 * A type's metrics, tagged once: a metric tagged anew on every update costs a
 * registry lookup by its full key each time (a tagged metric reused hits a cache).
 *
 * @internal
 */
export interface TypeMetrics {
  readonly attempts: Metric.Metric.Counter<number>
  readonly lag: Metric.Metric.Histogram<number>
  readonly duration: Metric.Metric.Histogram<number>
  readonly outcome: (outcome: string) => Metric.Metric.Counter<number>
  readonly requeue: (reason: string) => Metric.Metric.Counter<number>
}

/** @internal */
export interface Registered {
  readonly type: JobType.Any
  readonly settings: JobType.Settings<any>
  readonly queue: QueueState
  readonly metrics: TypeMetrics
}

/** A job running here: its lease token and when the lease ends (renewed by the heartbeat). @internal */
export interface RunningJob {
  readonly token: string
  expiresAt: number
}

const memoized = <A>(make: (key: string) => A) => {
  const cache = new Map<string, A>()
  return (key: string): A => {
    let value = cache.get(key)
    if (value === undefined) {
      value = make(key)
      cache.set(key, value)
    }
    return value
  }
}

const typeMetrics = (name: string): TypeMetrics => {
  // All tags in one call: a metric tagged twice unions its tags on every update, missing the cache.
  const byType = <M extends Metric.Metric<any, any, any>>(metric: M, ...more: Array<[string, string]>): M =>
    Metric.taggedWithLabels(metric, [
      MetricLabel.make("type", name),
      ...more.map(([key, value]) => MetricLabel.make(key, value))
    ]) as M
  return {
    attempts: byType(JobMetrics.attempts),
    lag: byType(JobMetrics.lagSeconds),
    duration: byType(JobMetrics.durationSeconds),
    outcome: memoized((outcome) => byType(JobMetrics.outcomes, ["outcome", outcome])),
    requeue: memoized((reason) => byType(JobMetrics.requeues, ["reason", reason]))
  }
}

/** What the client and the attempts share. @internal */
export interface Shared {
  readonly store: JobStore["Type"]
  readonly owner: string
  readonly types: ReadonlyMap<string, Registered>
  readonly queues: ReadonlyMap<string, QueueState>
  readonly events: PubSub.PubSub<JobSupervisor.JobEvent>
  readonly fibers: FiberMap.FiberMap<JobId, void, never>
  /** Jobs running here, by id, with their lease. */
  readonly running: Map<JobId, RunningJob>
  /** Running jobs cancelled through this supervisor: their interruption writes nothing. */
  readonly cancelled: Set<JobId>
  /** Running jobs whose lease the heartbeat found lost: interrupted, and their interruption writes nothing. */
  readonly lost: Set<JobId>
  readonly pollMillis: number
  readonly leaseMillis: number
  /** A `Workflow.sleep` with more than this left ends the attempt and frees its slot. */
  readonly sleepThresholdMillis: number
  readonly scope: Scope.Scope
  /** Asks the claim loop to look now. */
  readonly wake: Effect.Effect<void>
  /** Asks the claim loop to look in `millis`, if this supervisor runs `queue`. */
  readonly wakeIn: (queue: string, millis: number) => Effect.Effect<void>
}

const millisOf = (input: Duration.DurationInput, field: string) =>
  Either.gen(function*() {
    const decoded = Duration.decodeUnknown(input)
    if (decoded._tag === "None" || Duration.toMillis(decoded.value) < 0) {
      return yield* Either.left(
        new InvalidPolicy({ policy: "job supervisor", field, value: String(input), expected: "a duration ≥ 0" })
      )
    }
    return Duration.toMillis(decoded.value)
  })

const register = (options: JobSupervisor.Options<ReadonlyArray<JobType.Any>>) =>
  Either.gen(function*() {
    const types = new Map<string, Registered>()
    const queues = new Map<string, QueueState>()
    for (const type of options.types) {
      const settings = yield* type.settings
      if (types.has(type.name)) {
        return yield* Either.left(
          new InvalidPolicy({
            policy: "job supervisor",
            field: "types",
            value: type.name,
            expected: "each type name once"
          })
        )
      }
      const override = options.concurrency?.[type.queue]
      let queue = queues.get(type.queue)
      if (queue === undefined) {
        queue = {
          name: type.queue,
          limit: override ?? settings.concurrency,
          types: [],
          running: 0,
          pausedUntil: 0,
          runningGauge: Metric.tagged(JobMetrics.running, "queue", type.queue)
        }
        queues.set(type.queue, queue)
      } else if (override === undefined) {
        queue.limit = Math.max(queue.limit, settings.concurrency)
      }
      queue.types.push(type)
      types.set(type.name, { type, settings, queue, metrics: typeMetrics(type.name) })
    }
    for (const [name, limit] of Object.entries(options.concurrency ?? {})) {
      if (!(Number.isInteger(limit) && limit >= 1)) {
        return yield* Either.left(
          new InvalidPolicy({
            policy: "job supervisor",
            field: `concurrency.${name}`,
            value: String(limit),
            expected: "an integer ≥ 1"
          })
        )
      }
    }
    return { types, queues }
  })

/** @internal */
export const make = (options: JobSupervisor.Options<ReadonlyArray<JobType.Any>>) =>
  Effect.gen(function*() {
    const { queues, types } = yield* register(options)
    const pollMillis = yield* millisOf(options.pollInterval ?? "1 second", "pollInterval")
    const leaseMillis = yield* millisOf(options.leaseDuration ?? "30 seconds", "leaseDuration")
    const graceMillis = yield* millisOf(options.shutdownGrace ?? "10 seconds", "shutdownGrace")
    const sleepThresholdMillis = yield* millisOf(options.sleepThreshold ?? "1 second", "sleepThreshold")
    const store = yield* JobStore
    const scope = yield* Effect.scope
    const owner = options.owner ?? `supervisor-${yield* randomHex}`
    const events = yield* PubSub.sliding<JobSupervisor.JobEvent>(4096)
    const fibers = yield* FiberMap.make<JobId, void, never>()
    const signal = yield* Queue.sliding<void>(1)
    const wake = Effect.asVoid(Queue.offer(signal, undefined))
    let closing = false

    const shared: Shared = {
      store,
      owner,
      types,
      queues,
      events,
      fibers,
      running: new Map(),
      cancelled: new Set(),
      lost: new Set(),
      pollMillis,
      leaseMillis,
      sleepThresholdMillis,
      scope,
      wake,
      wakeIn: (queue, millis) =>
        !queues.has(queue) || closing
          ? Effect.void
          : millis <= 0
          ? wake
          // Forked from an attempt's uninterruptible settling: without `interruptible`
          // the timer would inherit that, and shutdown would wait for it.
          : Effect.asVoid(Effect.forkIn(Effect.interruptible(Effect.zipRight(Effect.sleep(millis), wake)), scope))
    }

    // Whether a queue is paused by an open breaker of one of its types, and until when.
    const pausedFor = (queue: QueueState, now: number) =>
      Effect.gen(function*() {
        let until = 0
        for (const type of queue.types) {
          if (type.breaker === undefined) continue
          const stats = yield* type.breaker.stats
          if (stats.state === "ISOLATED") until = Math.max(until, now + pollMillis)
          else if (stats.state === "OPEN" && (stats.secondsUntilRetry ?? 0) > 0) {
            until = Math.max(until, now + Math.ceil(stats.secondsUntilRetry! * 1000))
          }
        }
        if (until > now && queue.pausedUntil < until) {
          queue.pausedUntil = until
          yield* Effect.logInfo(
            `Pausing queue ${queue.name} for ${Duration.format(Duration.millis(until - now))}: circuit breaker open`
          ).pipe(Effect.annotateLogs({ queue: queue.name }))
          yield* shared.wakeIn(queue.name, until - now)
        }
        return until > now
      })

    const start = (record: JobRecord) => {
      const entry = types.get(record.type)
      return entry === undefined
        ? Effect.void
        : Effect.gen(function*() {
          const lease = record.lease!
          entry.queue.running++
          shared.running.set(record.id, { token: lease.token, expiresAt: lease.expiresAt })
          yield* Metric.set(entry.queue.runningGauge, entry.queue.running)
          const done = Effect.suspend(() => {
            entry.queue.running--
            shared.running.delete(record.id)
            shared.cancelled.delete(record.id)
            shared.lost.delete(record.id)
            return Effect.zipRight(Metric.set(entry.queue.runningGauge, entry.queue.running), wake)
          })
          yield* FiberMap.run(fibers, record.id, Effect.ensuring(runAttempt(shared, entry, record, lease.token), done))
        })
    }

    const claimOnce = Effect.gen(function*() {
      if (closing) return
      const now = yield* Clock.currentTimeMillis
      const request: Array<{ queue: string; limit: number }> = []
      for (const queue of queues.values()) {
        const free = queue.limit - queue.running
        if (free <= 0) continue
        if (yield* pausedFor(queue, now)) continue
        request.push({ queue: queue.name, limit: free })
      }
      if (request.length === 0) return
      const claimed = yield* store.claim({ queues: request, owner, now, leaseMillis })
      // Claimed jobs of types this supervisor does not run (a queue shared
      // with another process's types) are given back at once.
      for (const record of claimed) {
        if (types.has(record.type)) yield* start(record)
        else yield* Effect.ignore(store.release(record.id, record.lease!.token, now))
      }
    })

    const loop = Effect.gen(function*() {
      while (true) {
        yield* claimOnce.pipe(
          Effect.catchAll((error) => Effect.logWarning(`Claiming jobs failed: ${error.message}`))
        )
        yield* Effect.raceFirst(Queue.take(signal), Effect.sleep(pollMillis))
      }
    })

    yield* Effect.forkScoped(Stream.runForEach(store.wakeups, () => wake))
    const loopFiber = yield* Effect.forkScoped(loop.pipe(Effect.annotateLogs({ supervisor: owner })))

    // One heartbeat for every lease of this supervisor (not a timer per job):
    // every third of the lease, the leases of jobs that have run for a sixth
    // of it are renewed together (one commit on SQLite), so a lease is
    // renewed with at least two thirds of it left, and a short job never is.
    // A lease found lost (the job was cancelled elsewhere, or expired and
    // taken by another worker) interrupts its attempt, which then writes
    // nothing. It runs until the shutdown's grace period is over.
    const heartbeatEvery = Math.max(1, Math.floor(leaseMillis / 3))
    const heartbeat = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const due: Array<[JobId, RunningJob]> = []
      for (const entry of shared.running) {
        if (entry[1].expiresAt - now < leaseMillis - heartbeatEvery / 2) due.push(entry)
      }
      if (due.length === 0) return
      const expiresAt = now + leaseMillis
      yield* Effect.forEach(due, ([id, job]) =>
        store.heartbeat(id, job.token, expiresAt, now).pipe(
          Effect.zipRight(Effect.sync(() => {
            job.expiresAt = expiresAt
          })),
          Effect.catchAll((error) => {
            if (error._tag !== "LeaseLost") {
              return Effect.logWarning(`Lease heartbeat of job ${id} failed: ${error.message}`)
            }
            // Still the same attempt (not one that ended meanwhile): abandon it.
            if (shared.running.get(id) !== job) return Effect.void
            shared.lost.add(id)
            return FiberMap.remove(fibers, id)
          })
        ), { concurrency: "unbounded", discard: true })
    })
    yield* Effect.forkScoped(
      Effect.forever(Effect.zipRight(Effect.sleep(heartbeatEvery), heartbeat)).pipe(
        Effect.annotateLogs({ supervisor: owner })
      )
    )

    const retention = options.retention ?? {}
    if (retention !== false) {
      const maxAge = yield* millisOf(retention.maxAge ?? "1 day", "retention.maxAge")
      const interval = yield* millisOf(retention.interval ?? "1 minute", "retention.interval")
      const keep = retention.keep
      if (keep !== undefined && !(Number.isInteger(keep) && keep >= 0)) {
        return yield* new InvalidPolicy({
          policy: "job supervisor",
          field: "retention.keep",
          value: String(keep),
          expected: "an integer ≥ 0"
        })
      }
      const prune = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const pruned = yield* store.prune({ finishedBefore: now - maxAge, keep })
        if (pruned > 0) yield* Effect.logDebug(`Pruned ${pruned} finished job${pruned === 1 ? "" : "s"}`)
      }).pipe(Effect.catchAll((error) => Effect.logWarning(`Pruning jobs failed: ${error.message}`)))
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(interval), prune)))
    }

    const metricsInterval = options.metricsInterval ?? "1 second"
    if (metricsInterval !== false) {
      const interval = yield* millisOf(metricsInterval, "metricsInterval")
      yield* Effect.forkScoped(
        Effect.forever(Effect.zipRight(sampleStates(store), Effect.sleep(interval))).pipe(
          Effect.annotateLogs({ supervisor: owner })
        )
      )
    }

    // Added after the FiberMap, so it runs before the FiberMap's own finalizer.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closing = true
        yield* Fiber.interrupt(loopFiber)
        const left = yield* FiberMap.size(fibers)
        if (left === 0) return
        yield* Effect.logInfo(`Shutting down: waiting up to ${graceMillis} ms for ${left} running job(s)`)
        // Finalizers run uninterruptibly: the wait must be interruptible for the grace timeout to end it.
        const finished = yield* Effect.interruptible(FiberMap.awaitEmpty(fibers)).pipe(
          Effect.timeoutTo({ duration: graceMillis, onSuccess: () => true, onTimeout: () => false })
        )
        if (!finished) {
          const stopped = yield* FiberMap.size(fibers)
          yield* Effect.logWarning(`Shutdown grace over: interrupting and releasing ${stopped} job(s)`)
          yield* FiberMap.clear(fibers)
        }
      }).pipe(Effect.annotateLogs({ supervisor: owner }))
    )

    return client(shared, { tick: claimOnce })
  })

const stateGauges = JobState.literals.map((state) => [state, Metric.tagged(JobMetrics.jobs, "state", state)] as const)

/** Sets the jobs-by-state gauge from the store's counts. */
const sampleStates = (store: JobStore["Type"]) =>
  Effect.flatMap(
    store.counts,
    (counts) => Effect.forEach(stateGauges, ([state, gauge]) => Metric.set(gauge, counts[state]), { discard: true })
  ).pipe(
    Effect.catchAll((error) => Effect.logWarning(`Counting jobs by state failed: ${error.message}`))
  )
