import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import type * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { CircuitBreaker, Rejection, Settings, Snapshot, State, StateChange, Stats } from "../CircuitBreaker.js"
import { CircuitIsolated, CircuitOpen, TypeId } from "../CircuitBreaker.js"
import { InvalidPolicy } from "../Errors.js"
import * as Metrics from "../Metrics.js"
import type { Admission, Cursor, Outcome, Rules, Ticket, Transition } from "./breakerMachine.js"
import * as Core from "./breakerMachine.js"
import { firstCursor, step } from "./breakerSettings.js"
import { hydrate, toSnapshot } from "./breakerSnapshot.js"
import { spanEvent } from "./spanEvent.js"
import { checker } from "./validate.js"

const check = checker("circuit-breaker")

/** The value of the `bulwark_circuit_state` gauge. */
const stateCode: Record<State, number> = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2, ISOLATED: 3 }

/** Replaying a schedule on restore stops here: a breaker is not reopened thousands of times. */
const maxReplay = 1000

export interface BuildOptions {
  readonly service: string
  readonly restore?: Snapshot | undefined
  /** Where a registry hears of every change of its breakers. */
  readonly publish?: ((change: StateChange) => Effect.Effect<unknown>) | undefined
}

/**
 * Builds an error without capturing a stack: a refusal's stack would only ever
 * point here, and capturing it costs more than the rest of the fast-fail path.
 * Where `Error.stackTraceLimit` cannot be written, the stack is captured.
 */
const stackless = <A>(make: () => A): A => {
  const limit = Error.stackTraceLimit
  try {
    Error.stackTraceLimit = 0
  } catch {
    return make()
  }
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}

const replay = (schedule: Schedule.Schedule<unknown>, steps: number, now: number) =>
  Effect.gen(function*() {
    let cursor: Cursor = { state: schedule.initial, next: 0 }
    for (let i = 0; i < Math.min(steps, maxReplay); i++) {
      const next = yield* step(schedule, cursor.state, now)
      if (next === undefined) break
      cursor = next
    }
    return cursor
  })

export const build = <E>(
  settings: Settings<E>,
  options: BuildOptions
): Effect.Effect<CircuitBreaker<E>, InvalidPolicy> =>
  Effect.gen(function*() {
    const service = yield* check.service("service", options.service)
    const restore = options.restore
    if (restore !== undefined && restore.service !== service) {
      return yield* new InvalidPolicy({
        policy: "circuit-breaker",
        field: "restore",
        value: `a snapshot of ${JSON.stringify(restore.service)}`,
        expected: `a snapshot of ${JSON.stringify(service)}`
      })
    }
    const schedule = typeof settings.openDuration === "number" ? undefined : settings.openDuration
    const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const fresh = yield* firstCursor(settings.openDuration, now)
    const rules: Rules = {
      trackers: settings.trackers,
      maxProbes: settings.maxProbes,
      successThreshold: settings.successThreshold,
      halfOpenRetryAfterMillis: settings.halfOpenRetryAfterMillis,
      slowProbeMillis: Math.min(...settings.trackers.map((tracker) => tracker.slowMillis)),
      freshCursor: fresh
    }
    const timed = rules.slowProbeMillis !== Infinity
    const initial = Core.initial(rules)
    const restored = restore === undefined ? initial : hydrate(
      rules,
      initial,
      restore,
      schedule === undefined || restore.state === "CLOSED" ? fresh : yield* replay(schedule, restore.openings + 1, now)
    )
    const ref = yield* Ref.make(restored)
    const hub = yield* PubSub.unbounded<StateChange>()

    const gauge = Metric.tagged(Metrics.circuitState, "service", service)
    // One call with every label, not nested `Metric.tagged`: nested tags build a new label
    // array on each update, which misses Effect's hook cache and re-hashes the metric key.
    const rejected = (state: "OPEN" | "HALF_OPEN" | "ISOLATED") =>
      Metric.taggedWithLabels(Metrics.circuitRejections, [
        MetricLabel.make("service", service),
        MetricLabel.make("state", state)
      ])
    const rejections = { OPEN: rejected("OPEN"), HALF_OPEN: rejected("HALF_OPEN"), ISOLATED: rejected("ISOLATED") }
    const transitions = (from: State, to: State) =>
      Metric.taggedWithLabels(Metrics.circuitTransitions, [
        MetricLabel.make("service", service),
        MetricLabel.make("from", from),
        MetricLabel.make("to", to)
      ])
    const publish = options.publish

    /** After an opening, the schedule steps for the next one; after closing, it starts over. */
    const refill = (t: Transition): Effect.Effect<void> => {
      if (schedule === undefined || (t.to !== "OPEN" && t.to !== "CLOSED")) return Effect.void
      const expected = t.to === "OPEN" ? t.cursor : fresh
      const from = t.to === "OPEN" ? t.cursor.state : schedule.initial
      return Effect.flatMap(step(schedule, from, t.at), (cursor) =>
        cursor === undefined
          ? Effect.void
          : Ref.update(
            ref,
            (machine) => machine.mode.cursor === expected ? { ...machine, mode: { ...machine.mode, cursor } } : machine
          ))
    }

    const announce = (t: Transition): Effect.Effect<void> => {
      const change: StateChange = {
        service,
        from: t.from,
        to: t.to,
        reason: t.reason,
        detail: t.detail,
        at: t.at,
        openFor: t.openMillis === undefined ? undefined : Duration.millis(t.openMillis)
      }
      const line = `Circuit breaker for ${service}: ${t.from} -> ${t.to}${
        t.detail === undefined ? "" : ` (${t.detail})`
      }`
      const log = t.to === "OPEN"
        ? Effect.logError(line)
        : t.to === "ISOLATED"
        ? Effect.logWarning(line)
        : Effect.logInfo(line)
      const annotations = {
        service,
        from: t.from,
        to: t.to,
        reason: t.reason,
        ...(t.openMillis === undefined ? {} : { open_ms: t.openMillis })
      }
      return log.pipe(
        Effect.annotateLogs(annotations),
        Effect.zipRight(Metric.set(gauge, stateCode[t.to])),
        Effect.zipRight(Metric.increment(transitions(t.from, t.to))),
        Effect.zipRight(spanEvent("bulwark.circuit.transition", annotations)),
        Effect.zipRight(PubSub.publish(hub, change)),
        Effect.zipRight(publish === undefined ? Effect.void : publish(change)),
        Effect.zipRight(refill(t))
      )
    }

    const reject = (admission: Extract<Admission, { _tag: "Rejected" }>): Effect.Effect<never, Rejection> => {
      // Validation is skipped: the fields are ours, and this is the fast-fail path.
      const error = stackless(() =>
        admission.state === "ISOLATED"
          ? new CircuitIsolated({ service }, true)
          : new CircuitOpen({
            service,
            state: admission.state,
            retryAfter: Duration.millis(admission.retryAfterMillis ?? 0)
          }, true)
      )
      return Metric.increment(rejections[admission.state]).pipe(
        // Checked first: the message and the annotation cost more than the rest of a refusal.
        Effect.zipRight(
          Effect.whenLogLevel(
            Effect.suspend(() => Effect.logDebug(error.message).pipe(Effect.annotateLogs("service", service))),
            "Debug"
          )
        ),
        Effect.zipRight(Effect.fail(error))
      )
    }

    const classify = (cause: Cause.Cause<E>): Outcome => {
      if (Cause.isDie(cause)) return "failure"
      const failure = Cause.failureOption(cause)
      return failure._tag === "Some" && settings.isFailure(failure.value) ? "failure" : "ignored"
    }

    const settle = <A, E2>(
      clock: Clock.Clock,
      ticket: Ticket,
      outcome: Outcome,
      result: Effect.Effect<A, E2>
    ): Effect.Effect<A, E2> =>
      outcome === "ignored" && !ticket.probe ? result : Effect.flatMap(
        Ref.modify(ref, (machine) => Core.complete(rules, machine, ticket, outcome, clock.unsafeCurrentTimeMillis())),
        // A transition is announced whole (log, gauge, streams, schedule step) or not at all:
        // an interruption arriving meanwhile waits until it is done.
        (t) => t === undefined ? result : Effect.uninterruptible(Effect.zipRight(announce(t), result))
      )

    const run = <A, E2 extends E, R>(self: Effect.Effect<A, E2, R>, clock: Clock.Clock, ticket: Ticket) =>
      Effect.matchCauseEffect(self, {
        onSuccess: (value) => settle(clock, ticket, "success", Effect.succeed(value)),
        onFailure: (cause) => settle(clock, ticket, classify(cause), Effect.failCause(cause))
      })

    /** Not closed when we looked: admission is a decision, and a probe holds a place until it ends. */
    const guarded = <A, E2 extends E, R>(self: Effect.Effect<A, E2, R>, clock: Clock.Clock) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          Ref.modify(ref, (machine) => Core.admit(rules, machine, clock.unsafeCurrentTimeMillis())),
          (admission): Effect.Effect<A, E2 | Rejection, R> => {
            if (admission._tag === "Rejected") return reject(admission)
            const { ticket } = admission
            const call = ticket.probe
              ? Effect.onExit(restore(self), (exit) =>
                settle(
                  clock,
                  ticket,
                  Exit.isSuccess(exit) ? "success" : classify(exit.cause),
                  Effect.void
                ))
              : run(restore(self), clock, ticket)
            return admission.transition === undefined ? call : Effect.zipRight(announce(admission.transition), call)
          }
        )
      )

    const protect = <A, E2 extends E, R>(self: Effect.Effect<A, E2, R>): Effect.Effect<A, E2 | Rejection, R> =>
      Effect.clockWith((clock) =>
        Effect.flatMap(Ref.get(ref), (machine) => {
          if (machine.mode.state === "CLOSED") {
            return run(self, clock, {
              generation: machine.mode.generation,
              probe: false,
              // Only a slow-call strategy needs to know when a closed call started.
              start: timed ? clock.unsafeCurrentTimeMillis() : 0
            })
          }
          // A refusal changes nothing, so the state just read is enough to decide it;
          // anything that takes a probe's place goes through the atomic path.
          const [admission] = Core.admit(rules, machine, clock.unsafeCurrentTimeMillis())
          return admission._tag === "Rejected" ? reject(admission) : guarded(self, clock)
        })
      )

    const announceIf = (t: Transition | undefined) => t === undefined ? Effect.void : announce(t)

    const isolate: Effect.Effect<Effect.Effect<void>> = Effect.uninterruptible(
      Effect.clockWith((clock) =>
        Effect.flatMap(
          Ref.modify(ref, (machine) => Core.isolate(machine, clock.unsafeCurrentTimeMillis())),
          ([handle, t]) =>
            Effect.as(
              announceIf(t),
              Effect.uninterruptible(
                Effect.clockWith((clock) =>
                  Effect.flatMap(
                    Ref.modify(ref, (machine) => Core.release(rules, machine, handle, clock.unsafeCurrentTimeMillis())),
                    announceIf
                  )
                )
              )
            )
        )
      )
    )

    const reset: Effect.Effect<void> = Effect.uninterruptible(
      Effect.clockWith((clock) =>
        Effect.flatMap(
          Ref.modify(ref, (machine) => Core.reset(rules, machine, clock.unsafeCurrentTimeMillis())),
          announceIf
        )
      )
    )

    const stats: Effect.Effect<Stats> = Effect.clockWith((clock) =>
      Effect.map(Ref.get(ref), ({ counters, mode }): Stats => ({
        service,
        state: mode.state,
        consecutiveFailures: counters.consecutiveFailures,
        failureCount: counters.failureCount,
        secondsUntilRetry: mode.state === "OPEN"
          ? Math.max(0, mode.openUntil - clock.unsafeCurrentTimeMillis()) / 1000
          : undefined,
        lastFailureTime: counters.lastFailureTime,
        lastSuccessTime: counters.lastSuccessTime,
        openings: mode.openings,
        probesInFlight: mode.probes,
        probeSuccesses: mode.probeSuccesses,
        isolations: mode.isolations.length
      }))
    )

    const snapshot: Effect.Effect<Snapshot> = Effect.clockWith((clock) =>
      Effect.map(Ref.get(ref), (machine) => toSnapshot(rules, machine, service, clock.unsafeCurrentTimeMillis()))
    )

    yield* Metric.set(gauge, stateCode[restored.mode.state])
    if (restored.mode.state === "OPEN") {
      yield* Effect.logInfo(
        `Circuit breaker for ${service}: restored OPEN (retry in ${
          Duration.format(Duration.millis(Math.max(0, restored.mode.openUntil - now)))
        })`
      ).pipe(Effect.annotateLogs({ service }))
    }

    return {
      [TypeId]: TypeId,
      service,
      settings,
      protect,
      state: Effect.map(Ref.get(ref), (machine) => machine.mode.state),
      stats,
      changes: Stream.fromPubSub(hub),
      subscribe: Stream.fromPubSub(hub, { scoped: true }),
      isolate,
      isolateScoped: Effect.asVoid(Effect.acquireRelease(isolate, (release) => release)),
      reset,
      snapshot
    }
  })
