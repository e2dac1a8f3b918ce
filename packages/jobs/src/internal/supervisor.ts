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
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
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
}

/** @internal */
export interface Registered {
  readonly type: JobType.Any
  readonly settings: JobType.Settings<any>
  readonly queue: QueueState
}

/** What the client and the attempts share. @internal */
export interface Shared {
  readonly store: JobStore["Type"]
  readonly owner: string
  readonly types: ReadonlyMap<string, Registered>
  readonly queues: ReadonlyMap<string, QueueState>
  readonly events: PubSub.PubSub<JobSupervisor.JobEvent>
  readonly fibers: FiberMap.FiberMap<JobId, void, never>
  /** Jobs running here, by id, with their lease token. */
  readonly running: Map<JobId, string>
  /** Running jobs cancelled through this supervisor: their interruption writes nothing. */
  readonly cancelled: Set<JobId>
  /** Submit spans of jobs submitted here, for the attempt spans' links. */
  readonly links: Map<JobId, Tracer.AnySpan>
  readonly pollMillis: number
  readonly leaseMillis: number
  readonly scope: Scope.Scope
  /** Asks the claim loop to look now. */
  readonly wake: Effect.Effect<void>
  /** Asks the claim loop to look in `millis`, if this supervisor runs `queue`. */
  readonly wakeIn: (queue: string, millis: number) => Effect.Effect<void>
}

const linkCap = 10_000

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
        queue = { name: type.queue, limit: override ?? settings.concurrency, types: [], running: 0, pausedUntil: 0 }
        queues.set(type.queue, queue)
      } else if (override === undefined) {
        queue.limit = Math.max(queue.limit, settings.concurrency)
      }
      queue.types.push(type)
      types.set(type.name, { type, settings, queue })
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
      links: new Map(),
      pollMillis,
      leaseMillis,
      scope,
      wake,
      wakeIn: (queue, millis) =>
        queues.has(queue) && !closing
          // Forked from an attempt's uninterruptible settling: without `interruptible`
          // the timer would inherit that, and shutdown would wait for it.
          ? Effect.asVoid(Effect.forkIn(Effect.interruptible(Effect.zipRight(Effect.sleep(millis), wake)), scope))
          : Effect.void
    }
    const links = shared.links
    const rememberLink = (id: JobId, span: Tracer.AnySpan) =>
      Effect.sync(() => {
        links.set(id, span)
        if (links.size > linkCap) links.delete(links.keys().next().value!)
      })

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
          const token = record.lease!.token
          entry.queue.running++
          shared.running.set(record.id, token)
          yield* Metric.set(Metric.tagged(JobMetrics.running, "queue", entry.queue.name), entry.queue.running)
          const done = Effect.suspend(() => {
            entry.queue.running--
            shared.running.delete(record.id)
            shared.cancelled.delete(record.id)
            return Effect.zipRight(
              Metric.set(Metric.tagged(JobMetrics.running, "queue", entry.queue.name), entry.queue.running),
              wake
            )
          })
          yield* FiberMap.run(fibers, record.id, Effect.ensuring(runAttempt(shared, entry, record, token), done))
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

    const metricsInterval = options.metricsInterval ?? "15 seconds"
    if (metricsInterval !== false) {
      const interval = yield* millisOf(metricsInterval, "metricsInterval")
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(interval), sampleStates(store, new Set()))))
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

    return client(shared, { rememberLink, tick: claimOnce })
  })

const sampledStates = JobState.literals

/** Counts jobs by state and type through `list`, up to a cap per state (stores have no count). */
const sampleStates = (store: JobStore["Type"], seen: Set<string>) =>
  Effect.gen(function*() {
    const counts = new Map<string, number>()
    for (const state of sampledStates) {
      let after: number | undefined = undefined
      let total = 0
      do {
        const page: { jobs: ReadonlyArray<JobRecord>; next: number | undefined } = yield* store.list(
          { states: [state] },
          { after, limit: 1000 }
        )
        for (const job of page.jobs) {
          const key = `${state}\u0000${job.type}`
          counts.set(key, (counts.get(key) ?? 0) + 1)
        }
        total += page.jobs.length
        after = page.next
      } while (after !== undefined && total < 10_000)
    }
    for (const key of seen) if (!counts.has(key)) counts.set(key, 0)
    for (const [key, value] of counts) {
      seen.add(key)
      const [state, type] = key.split("\u0000") as [string, string]
      yield* Metric.set(Metric.tagged(Metric.tagged(JobMetrics.jobs, "state", state), "type", type), value)
    }
  }).pipe(Effect.catchAll((error) => Effect.logWarning(`Sampling job states failed: ${error.message}`)))
