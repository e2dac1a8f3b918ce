/**
 * Model-based test: random command sequences run against the real breaker on the
 * TestClock and against the small reference model below; after every command
 * the admissions, the stats and the logged transitions must agree.
 */
import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as Errors from "@bulwark/core/Errors"
import { describe, expect, it } from "@effect/vitest"
import type { Exit } from "effect"
import {
  Cause,
  Clock,
  Deferred,
  Duration,
  Effect,
  FastCheck as fc,
  Fiber,
  Logger,
  Option,
  Schedule,
  Schema,
  TestClock
} from "effect"

// ---------------------------------------------------------------------------
// Configurations and commands

type ModelTrip =
  | { readonly kind: "consecutive"; readonly threshold: number }
  | { readonly kind: "count"; readonly ratio: number; readonly size: number; readonly minimumCalls: number }
  | {
    readonly kind: "time"
    readonly ratio: number
    readonly duration: number
    readonly minimumThroughput: number
    readonly buckets: number
  }
  | {
    readonly kind: "slow"
    readonly threshold: number
    readonly ratio: number
    readonly size: number
    readonly minimumCalls: number
  }

interface ModelConfig {
  readonly trips: ReadonlyArray<ModelTrip>
  readonly open: { readonly kind: "fixed"; readonly millis: number } | {
    readonly kind: "exponential"
    readonly base: number
  }
  readonly maxProbes: number
  readonly successThreshold: number
  readonly halfOpenRetryAfter: number
}

const ratio = fc.constantFrom(0.25, 0.3, 0.5, 0.6, 0.75, 1)
const countWindow = fc.integer({ min: 1, max: 6 }).chain((size) =>
  fc.record({ size: fc.constant(size), minimumCalls: fc.integer({ min: 1, max: size }) })
)

const arbitraryTrip: fc.Arbitrary<ModelTrip> = fc.oneof(
  fc.record({ kind: fc.constant("consecutive" as const), threshold: fc.integer({ min: 1, max: 4 }) }),
  fc.tuple(ratio, countWindow).map(([ratio, window]) => ({ kind: "count" as const, ratio, ...window })),
  fc.record({
    kind: fc.constant("time" as const),
    ratio,
    duration: fc.integer({ min: 500, max: 4000 }),
    minimumThroughput: fc.integer({ min: 1, max: 4 }),
    buckets: fc.integer({ min: 1, max: 5 })
  }),
  fc.tuple(ratio, countWindow, fc.constantFrom(50, 500, 1000, 2000)).map(([ratio, window, threshold]) => ({
    kind: "slow" as const,
    ratio,
    threshold,
    ...window
  }))
)

const arbitraryConfig: fc.Arbitrary<ModelConfig> = fc.record({
  trips: fc.array(arbitraryTrip, { minLength: 1, maxLength: 2 }),
  open: fc.oneof(
    fc.record({ kind: fc.constant("fixed" as const), millis: fc.integer({ min: 0, max: 3000 }) }),
    fc.record({ kind: fc.constant("exponential" as const), base: fc.integer({ min: 100, max: 1500 }) })
  ),
  maxProbes: fc.integer({ min: 1, max: 3 }),
  successThreshold: fc.integer({ min: 1, max: 3 }),
  halfOpenRetryAfter: fc.integer({ min: 0, max: 2000 })
})

type Outcome = "success" | "failure" | "ignored" | "defect"

type Command =
  | { readonly _tag: "Call"; readonly outcome: Outcome; readonly millis: number }
  | {
    readonly _tag: "Batch"
    readonly calls: ReadonlyArray<{ readonly outcome: Outcome | "interrupt"; readonly key: number }>
  }
  | { readonly _tag: "Advance"; readonly millis: number }
  | { readonly _tag: "Isolate" }
  | { readonly _tag: "Release"; readonly index: number }
  | { readonly _tag: "Reset" }

const outcome = fc.constantFrom<Outcome>(
  "success",
  "success",
  "success",
  "success",
  "failure",
  "failure",
  "ignored",
  "defect"
)

const arbitraryCommand: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      _tag: fc.constant("Call" as const),
      outcome,
      millis: fc.constantFrom(0, 0, 50, 500, 1000, 3500)
    })
  },
  {
    weight: 4,
    arbitrary: fc.record({
      _tag: fc.constant("Batch" as const),
      calls: fc.array(
        fc.record({ outcome: fc.oneof(outcome, fc.constant("interrupt" as const)), key: fc.nat() }),
        { minLength: 1, maxLength: 5 }
      )
    })
  },
  {
    weight: 6,
    arbitrary: fc.record({
      _tag: fc.constant("Advance" as const),
      millis: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 0, max: 6000 }), fc.constant(60_000))
    })
  },
  { weight: 1, arbitrary: fc.constant({ _tag: "Isolate" as const }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Release" as const), index: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "Reset" as const }) }
)

// ---------------------------------------------------------------------------
// The reference model: written plainly, with no code shared with the breaker.

interface Ticket {
  readonly generation: number
  readonly probe: boolean
  readonly start: number
}

type Admission =
  | { readonly admitted: true; readonly ticket: Ticket }
  | { readonly admitted: false; readonly tag: "CircuitOpen" | "CircuitIsolated"; readonly retryAfter?: number }

interface Entry {
  readonly at: number
  readonly failed: boolean
  readonly millis: number
}

class Model {
  state: CircuitBreaker.State = "CLOSED"
  generation = 0
  consecutive = 0
  failureCount = 0
  lastFailure: number | undefined = undefined
  lastSuccess: number | undefined = undefined
  openUntil = 0
  openings = 0
  probes = 0
  probeSuccesses = 0
  handles = new Set<number>()
  nextHandle = 0
  /** Calls recorded while closed, since the breaker last closed. */
  entries: Array<Entry> = []
  readonly transitions: Array<string> = []

  constructor(readonly config: ModelConfig) {}

  private move(to: CircuitBreaker.State) {
    this.transitions.push(`${this.state} -> ${to}`)
    this.state = to
    this.generation++
  }

  private close() {
    this.move("CLOSED")
    this.consecutive = 0
    this.failureCount = 0
    this.openings = 0
    this.probes = 0
    this.probeSuccesses = 0
    this.entries = []
    this.handles.clear()
  }

  private open(now: number) {
    const { open } = this.config
    const delay = open.kind === "fixed" ? open.millis : open.base * 2 ** this.openings
    this.move("OPEN")
    this.openUntil = now + delay
    this.openings++
    this.probes = 0
    this.probeSuccesses = 0
  }

  private tripped(now: number): boolean {
    return this.config.trips.some((trip) => {
      switch (trip.kind) {
        case "consecutive":
          return this.consecutive >= trip.threshold
        case "count": {
          const window = this.entries.slice(-trip.size)
          const failures = window.filter((entry) => entry.failed).length
          return window.length >= trip.minimumCalls && failures / window.length >= trip.ratio
        }
        case "slow": {
          const window = this.entries.slice(-trip.size)
          const slow = window.filter((entry) => entry.millis > trip.threshold).length
          return window.length >= trip.minimumCalls && slow / window.length >= trip.ratio
        }
        case "time": {
          const slice = (t: number) => Math.floor(t * trip.buckets / trip.duration)
          const current = slice(now)
          const window = this.entries.filter((entry) =>
            slice(entry.at) > current - trip.buckets && slice(entry.at) <= current
          )
          const failures = window.filter((entry) => entry.failed).length
          return window.length >= trip.minimumThroughput && failures / window.length >= trip.ratio
        }
      }
    })
  }

  admit(now: number): Admission {
    switch (this.state) {
      case "CLOSED":
        return { admitted: true, ticket: { generation: this.generation, probe: false, start: now } }
      case "ISOLATED":
        return { admitted: false, tag: "CircuitIsolated" }
      case "OPEN":
        if (now < this.openUntil) return { admitted: false, tag: "CircuitOpen", retryAfter: this.openUntil - now }
        this.move("HALF_OPEN")
        this.probes = 1
        this.probeSuccesses = 0
        return { admitted: true, ticket: { generation: this.generation, probe: true, start: now } }
      case "HALF_OPEN":
        if (this.probes >= this.config.maxProbes) {
          return { admitted: false, tag: "CircuitOpen", retryAfter: this.config.halfOpenRetryAfter }
        }
        this.probes++
        return { admitted: true, ticket: { generation: this.generation, probe: true, start: now } }
    }
  }

  complete(ticket: Ticket, outcome: Outcome | "interrupt", now: number) {
    const current = ticket.generation === this.generation
    if (outcome === "ignored" || outcome === "interrupt") {
      if (current && ticket.probe) this.probes--
      return
    }
    const failed = outcome === "failure" || outcome === "defect"
    if (failed) this.lastFailure = now
    else this.lastSuccess = now
    if (!current) return
    const millis = now - ticket.start
    if (this.state === "CLOSED") {
      this.consecutive = failed ? this.consecutive + 1 : 0
      if (failed) this.failureCount++
      this.entries.push({ at: now, failed, millis })
      if (this.tripped(now)) this.open(now)
      return
    }
    this.probes--
    if (failed) {
      this.consecutive++
      this.failureCount++
      return this.open(now)
    }
    const slowest = Math.min(...this.config.trips.map((trip) => trip.kind === "slow" ? trip.threshold : Infinity))
    if (millis > slowest) return this.open(now)
    this.consecutive = 0
    this.probeSuccesses++
    if (this.probeSuccesses >= this.config.successThreshold) this.close()
  }

  isolate(): number {
    const handle = this.nextHandle++
    if (this.state !== "ISOLATED") this.move("ISOLATED")
    this.probes = 0
    this.probeSuccesses = 0
    this.handles.add(handle)
    return handle
  }

  release(handle: number) {
    if (!this.handles.delete(handle)) return
    if (this.handles.size === 0) this.close()
  }

  reset() {
    if (this.state === "CLOSED") {
      this.generation++
      this.consecutive = 0
      this.failureCount = 0
      this.openings = 0
      this.entries = []
      this.handles.clear()
    } else {
      this.close()
    }
  }

  stats(now: number) {
    return {
      state: this.state,
      consecutiveFailures: this.consecutive,
      failureCount: this.failureCount,
      secondsUntilRetry: this.state === "OPEN" ? Math.max(0, this.openUntil - now) / 1000 : undefined,
      lastFailureTime: this.lastFailure,
      lastSuccessTime: this.lastSuccess,
      openings: this.openings,
      probesInFlight: this.probes,
      probeSuccesses: this.probeSuccesses,
      isolations: this.handles.size
    }
  }
}

// ---------------------------------------------------------------------------
// Running both

const toOptions = (config: ModelConfig): CircuitBreaker.Options => ({
  trip: config.trips.map((trip) => {
    switch (trip.kind) {
      case "consecutive":
        return CircuitBreaker.consecutiveFailures(trip.threshold)
      case "count":
        return CircuitBreaker.failureRatio({ ratio: trip.ratio, size: trip.size, minimumCalls: trip.minimumCalls })
      case "time":
        return CircuitBreaker.failureRatio({
          ratio: trip.ratio,
          duration: trip.duration,
          minimumThroughput: trip.minimumThroughput,
          buckets: trip.buckets
        })
      case "slow":
        return CircuitBreaker.slowCalls({
          threshold: trip.threshold,
          ratio: trip.ratio,
          size: trip.size,
          minimumCalls: trip.minimumCalls
        })
    }
  }),
  openDuration: config.open.kind === "fixed"
    ? config.open.millis
    : Schedule.exponential(Duration.millis(config.open.base), 2),
  maxProbes: config.maxProbes,
  successThreshold: config.successThreshold,
  halfOpenRetryAfter: config.halfOpenRetryAfter
})

const failWith = (outcome: Outcome): Effect.Effect<string, Errors.ServerError | Errors.Rejected> => {
  switch (outcome) {
    case "success":
      return Effect.succeed("ok")
    case "failure":
      return Effect.fail(new Errors.ServerError({ status: 502 }))
    case "ignored":
      return Effect.fail(new Errors.Rejected({ status: 404 }))
    case "defect":
      return Effect.die("boom")
  }
}

/** What a call looked like from outside: admitted, or refused with which error. */
const observed = (exit: Exit.Exit<unknown, unknown>, admitted: boolean) => {
  if (admitted) return { admitted: true }
  const error = Option.getOrThrow(Cause.failureOption((exit as Exit.Failure<unknown, unknown>).cause)) as
    | CircuitBreaker.CircuitOpen
    | CircuitBreaker.CircuitIsolated
  return {
    admitted: false,
    tag: error._tag,
    ...(error._tag === "CircuitOpen" && error.retryAfter !== undefined
      ? { retryAfter: Duration.toMillis(error.retryAfter) }
      : {})
  }
}

const expected = (admission: Admission) =>
  admission.admitted
    ? { admitted: true }
    : {
      admitted: false,
      tag: admission.tag,
      ...(admission.retryAfter === undefined ? {} : { retryAfter: admission.retryAfter })
    }

const transitionsIn = (lines: ReadonlyArray<string>) =>
  lines.flatMap((line) => {
    const match = /^Circuit breaker for model: (\w+ -> \w+)/.exec(line)
    return match === null ? [] : [match[1]!]
  })

const runModel = (config: ModelConfig, commands: ReadonlyArray<Command>) => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push(Array.isArray(message) ? message.join(" ") : String(message))
  })
  return Effect.gen(function*() {
    const breaker = yield* CircuitBreaker.make({ service: "model", ...toOptions(config) })
    const model = new Model(config)
    const releases: Array<readonly [Effect.Effect<void>, number]> = []
    const check = (step: number, command: Command) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const { service: _, ...stats } = yield* breaker.stats
        expect(stats, `stats after step ${step}: ${JSON.stringify(command)}`).toEqual(model.stats(now))
        expect(transitionsIn(lines), `transitions after step ${step}`).toEqual(model.transitions)
      })

    for (const [step, command] of commands.entries()) {
      switch (command._tag) {
        case "Advance": {
          yield* TestClock.adjust(command.millis)
          break
        }
        case "Call": {
          const start = yield* Clock.currentTimeMillis
          const admission = model.admit(start)
          let entered = false
          const exit = yield* Effect.exit(breaker.protect(
            Effect.suspend(() => {
              entered = true
              return Effect.zipRight(TestClock.adjust(command.millis), failWith(command.outcome))
            })
          ))
          expect(observed(exit, entered), `call at step ${step}`).toEqual(expected(admission))
          if (admission.admitted) model.complete(admission.ticket, command.outcome, start + command.millis)
          break
        }
        case "Batch": {
          const now = yield* Clock.currentTimeMillis
          const calls: Array<{
            readonly outcome: Outcome | "interrupt"
            readonly key: number
            readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
            readonly gate: Deferred.Deferred<void>
            readonly admission: Admission
          }> = []
          for (const call of command.calls) {
            const entered = yield* Deferred.make<void>()
            const gate = yield* Deferred.make<void>()
            const fiber = yield* Effect.fork(breaker.protect(
              Deferred.succeed(entered, undefined).pipe(
                Effect.zipRight(Deferred.await(gate)),
                Effect.zipRight(call.outcome === "interrupt" ? Effect.never : failWith(call.outcome))
              )
            ))
            // Admission happens in fork order: wait until this call is inside, or refused.
            yield* Effect.raceFirst(Deferred.await(entered), Effect.asVoid(Fiber.await(fiber)))
            const admitted = yield* Deferred.isDone(entered)
            const admission = model.admit(now)
            const exit = admitted ? undefined : yield* Fiber.await(fiber)
            expect(observed(exit!, admitted), `batch call at step ${step}`).toEqual(expected(admission))
            calls.push({ ...call, fiber, gate, admission })
          }
          const order = calls.map((_, i) => i).sort((a, b) => calls[a]!.key - calls[b]!.key || a - b)
          for (const i of order) {
            const call = calls[i]!
            if (!call.admission.admitted) continue
            if (call.outcome === "interrupt") yield* Fiber.interrupt(call.fiber)
            else yield* Deferred.succeed(call.gate, undefined).pipe(Effect.zipRight(Fiber.await(call.fiber)))
            model.complete(call.admission.ticket, call.outcome, now)
          }
          break
        }
        case "Isolate": {
          const release = yield* breaker.isolate
          releases.push([release, model.isolate()])
          break
        }
        case "Release": {
          if (releases.length === 0) break
          const [release, handle] = releases[command.index % releases.length]!
          yield* release
          model.release(handle)
          break
        }
        case "Reset": {
          yield* breaker.reset
          model.reset()
          break
        }
      }
      yield* check(step, command)
    }
    return { breaker, model }
  }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
}

describe("CircuitBreaker against its reference model", () => {
  it.effect.prop(
    "admissions, stats and transitions agree after every command",
    [arbitraryConfig, fc.array(arbitraryCommand, { minLength: 5, maxLength: 50 })],
    ([config, commands]) => Effect.asVoid(runModel(config, commands)),
    { timeout: 60_000, fastCheck: { numRuns: 300 } }
  )

  it.effect.prop(
    "a snapshot survives JSON and restores the same counters; an open period keeps its absolute end",
    [arbitraryConfig, fc.array(arbitraryCommand, { minLength: 1, maxLength: 30 })],
    ([config, commands]) =>
      Effect.gen(function*() {
        const { breaker } = yield* runModel(config, commands)
        const snapshot = yield* breaker.snapshot
        const json = JSON.stringify(yield* Schema.encode(CircuitBreaker.Snapshot)(snapshot))
        const decoded = yield* Schema.decodeUnknown(Schema.parseJson(CircuitBreaker.Snapshot))(json)
        expect(decoded).toEqual(snapshot)
        const restored = yield* CircuitBreaker.make({ service: "model", ...toOptions(config), restore: decoded })
        const before = yield* breaker.stats
        const after = yield* restored.stats
        const state = before.state === "ISOLATED" ? "CLOSED" : before.state === "HALF_OPEN" ? "OPEN" : before.state
        expect(after).toMatchObject({
          state,
          consecutiveFailures: before.state === "ISOLATED" ? 0 : before.consecutiveFailures,
          failureCount: before.state === "ISOLATED" ? 0 : before.failureCount,
          lastFailureTime: before.lastFailureTime,
          lastSuccessTime: before.lastSuccessTime,
          secondsUntilRetry: state === "OPEN" ? before.secondsUntilRetry ?? 0 : undefined
        })
        // A closed breaker keeps its windows, so it trips exactly when the original would.
        if (snapshot.state === "CLOSED") expect((yield* restored.snapshot).trackers).toEqual(snapshot.trackers)
      }),
    { timeout: 60_000, fastCheck: { numRuns: 100 } }
  )
})
