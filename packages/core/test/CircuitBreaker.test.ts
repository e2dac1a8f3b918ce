import * as Backoff from "@bulwark/core/Backoff"
import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as Errors from "@bulwark/core/Errors"
import * as Metrics from "@bulwark/core/Metrics"
import { describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  Config,
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  FastCheck as fc,
  Fiber,
  Logger,
  LogLevel,
  Metric,
  Schedule,
  Schema,
  Stream,
  TestClock
} from "effect"
import { failureOf } from "./utils/scripted.js"

const serverError = new Errors.ServerError({ status: 502 })
const notFound = new Errors.Rejected({ status: 404 })

const make = (options: Omit<CircuitBreaker.MakeOptions, "service"> & { readonly service?: string } = {}) =>
  CircuitBreaker.make({ service: "claude_api", ...options })

/** `n` calls failing with `error`, one after the other. */
const failing = (breaker: CircuitBreaker.CircuitBreaker, n: number, error: unknown = serverError) =>
  Effect.forEach(Array.from({ length: n }), () => Effect.exit(breaker.protect(Effect.fail(error))), { discard: true })

const succeeding = (breaker: CircuitBreaker.CircuitBreaker) => Effect.exit(breaker.protect(Effect.succeed("ok")))

/** Forks a protected call and waits until it is running inside the breaker. */
const inside = <A, E>(breaker: CircuitBreaker.CircuitBreaker, body: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const entered = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(breaker.protect(Effect.zipRight(Deferred.succeed(entered, undefined), body)))
    yield* Deferred.await(entered)
    return fiber
  })

/** A call that takes `millis` of TestClock time, then ends as `end`. */
const taking = <A, E>(millis: number, end: Effect.Effect<A, E>) => Effect.zipRight(TestClock.adjust(millis), end)

const retryAfterMillis = (exit: Exit.Exit<unknown, unknown>) => {
  const error = failureOf(exit) as CircuitBreaker.CircuitOpen
  expect(error).toBeInstanceOf(CircuitBreaker.CircuitOpen)
  return Duration.toMillis(error.retryAfter!)
}

const capture = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

describe("CircuitBreaker", () => {
  describe("defaults (seeds 003 and 004)", () => {
    it.effect("opens after 5 consecutive failures and then refuses at once with the time left", () =>
      Effect.gen(function*() {
        const breaker = yield* make()
        yield* failing(breaker, 4)
        expect(yield* breaker.state).toBe("CLOSED")
        yield* failing(breaker, 1)
        expect(yield* breaker.state).toBe("OPEN")
        let ran = false
        const exit = yield* Effect.exit(breaker.protect(Effect.sync(() => (ran = true))))
        expect(ran).toBe(false)
        expect(failureOf(exit)).toMatchObject({ _tag: "CircuitOpen", service: "claude_api", state: "OPEN" })
        expect(retryAfterMillis(exit)).toBe(60_000)
        expect((failureOf(exit) as Error).message).toBe("Circuit breaker open for claude_api; retry after 1m")
      }))

    it.effect("a success resets the consecutive count", () =>
      Effect.gen(function*() {
        const breaker = yield* make()
        yield* failing(breaker, 4)
        yield* succeeding(breaker)
        yield* failing(breaker, 4)
        expect(yield* breaker.stats).toMatchObject({ state: "CLOSED", consecutiveFailures: 4, failureCount: 8 })
      }))

    it.effect("stats carry the seeds' fields, times from the Clock", () =>
      Effect.gen(function*() {
        const breaker = yield* make()
        yield* TestClock.adjust(1000)
        yield* succeeding(breaker)
        yield* TestClock.adjust(1000)
        yield* failing(breaker, 5)
        yield* TestClock.adjust(15_500)
        expect(yield* breaker.stats).toEqual({
          service: "claude_api",
          state: "OPEN",
          consecutiveFailures: 5,
          failureCount: 5,
          secondsUntilRetry: 44.5,
          lastFailureTime: 2000,
          lastSuccessTime: 1000,
          openings: 1,
          probesInFlight: 0,
          probeSuccesses: 0,
          isolations: 0
        })
      }))
  })

  describe("which failures count", () => {
    it.effect("a 404 Rejected passes through and never trips the breaker", () =>
      Effect.gen(function*() {
        const breaker = yield* make()
        yield* failing(breaker, 4)
        const exit = yield* Effect.exit(breaker.protect(Effect.fail(notFound)))
        expect(failureOf(exit)).toBe(notFound)
        yield* failing(breaker, 20, notFound)
        // Neither a success nor a failure: the four failures still stand.
        expect(yield* breaker.stats).toMatchObject({ state: "CLOSED", consecutiveFailures: 4 })
      }))

    it.effect("refusals of Bulwark's own policies say nothing about the service", () =>
      Effect.gen(function*() {
        const breaker = yield* make({ trip: CircuitBreaker.consecutiveFailures(1) })
        const inner = yield* make({ service: "inner", trip: CircuitBreaker.consecutiveFailures(1) })
        yield* failing(inner, 1)
        // The inner breaker's CircuitOpen is retryable, but it is not a failure of the service.
        yield* Effect.exit(breaker.protect(inner.protect(Effect.void)))
        expect(yield* breaker.state).toBe("CLOSED")
      }))

    it.effect("defects count; interruptions do not", () =>
      Effect.gen(function*() {
        const breaker = yield* make({ trip: CircuitBreaker.consecutiveFailures(2) })
        const fiber = yield* Effect.fork(breaker.protect(Effect.never))
        yield* Fiber.interrupt(fiber)
        yield* Effect.exit(breaker.protect(Effect.interrupt))
        expect(yield* breaker.stats).toMatchObject({ consecutiveFailures: 0 })
        yield* Effect.exit(breaker.protect(Effect.die("boom")))
        yield* Effect.exit(breaker.protect(Effect.die("boom")))
        expect(yield* breaker.state).toBe("OPEN")
      }))

    it.effect("isFailure replaces the default classification", () =>
      Effect.gen(function*() {
        const breaker = yield* make({
          trip: CircuitBreaker.consecutiveFailures(2),
          isFailure: (error) => error === "down"
        })
        yield* failing(breaker, 5, serverError)
        expect(yield* breaker.state).toBe("CLOSED")
        yield* failing(breaker, 2, "down")
        expect(yield* breaker.state).toBe("OPEN")
      }))

    it.effect("a call admitted before the breaker opened does not count when it ends after", () =>
      Effect.gen(function*() {
        const breaker = yield* make({ trip: CircuitBreaker.consecutiveFailures(1), openDuration: "10 seconds" })
        const gate = yield* Deferred.make<void>()
        const slow = yield* inside(breaker, Effect.zipRight(Deferred.await(gate), Effect.succeed("late")))
        yield* failing(breaker, 1)
        yield* TestClock.adjust("10 seconds")
        yield* succeeding(breaker) // the probe
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(slow)).toBe("late")
        // The late success is not taken for a second probe success.
        expect(yield* breaker.stats).toMatchObject({ state: "HALF_OPEN", probeSuccesses: 1, lastSuccessTime: 10_000 })
      }))
  })

  describe("time rules on the TestClock", () => {
    it.effect("open for exactly openDuration; retryAfter counts down; the first call after it probes", () =>
      Effect.gen(function*() {
        const breaker = yield* make({ openDuration: "30 seconds" })
        yield* failing(breaker, 5)
        yield* TestClock.adjust(29_500)
        expect(retryAfterMillis(yield* succeeding(breaker))).toBe(500)
        expect((yield* breaker.stats).secondsUntilRetry).toBe(0.5)
        yield* TestClock.adjust(500)
        // No timer: the state changes on the next call, not before.
        expect(yield* breaker.stats).toMatchObject({ state: "OPEN", secondsUntilRetry: 0 })
        expect(yield* succeeding(breaker)).toEqual(Exit.succeed("ok"))
        expect(yield* breaker.stats).toMatchObject({ state: "HALF_OPEN", probeSuccesses: 1 })
      }))

    it.effect("half-open closes after successThreshold probe successes (seed 004: 2)", () =>
      Effect.gen(function*() {
        const breaker = yield* make()
        yield* failing(breaker, 5)
        yield* TestClock.adjust("60 seconds")
        yield* succeeding(breaker)
        expect(yield* breaker.state).toBe("HALF_OPEN")
        yield* succeeding(breaker)
        expect(yield* breaker.stats).toMatchObject({ state: "CLOSED", failureCount: 0, openings: 0 })
      }))

    it.effect("any probe failure re-opens for another open period", () =>
      Effect.gen(function*() {
        const breaker = yield* make({ successThreshold: 3 })
        yield* failing(breaker, 5)
        yield* TestClock.adjust("60 seconds")
        yield* succeeding(breaker)
        yield* succeeding(breaker)
        yield* failing(breaker, 1)
        expect(yield* breaker.stats).toMatchObject({ state: "OPEN", secondsUntilRetry: 60, openings: 2 })
      }))

    it.effect("an ignored failure or an interruption gives the probe's place back without a verdict", () =>
      Effect.gen(function*() {
        const breaker = yield* make()
        yield* failing(breaker, 5)
        yield* TestClock.adjust("60 seconds")
        yield* failing(breaker, 1, notFound)
        const probe = yield* inside(breaker, Effect.never)
        expect(yield* breaker.stats).toMatchObject({ state: "HALF_OPEN", probesInFlight: 1 })
        yield* Fiber.interrupt(probe)
        expect(yield* breaker.stats).toMatchObject({ state: "HALF_OPEN", probesInFlight: 0, probeSuccesses: 0 })
        expect(yield* succeeding(breaker)).toEqual(Exit.succeed("ok"))
      }))

    it.effect("a schedule as openDuration backs off while probes keep failing, and starts over once closed", () =>
      Effect.gen(function*() {
        const breaker = yield* make({
          successThreshold: 1,
          openDuration: yield* Backoff.exponential({ base: "10 seconds", maxDelay: "1 minute", jitter: "none" })
        })
        const openFor = Effect.map(breaker.stats, (stats) => stats.secondsUntilRetry)
        yield* failing(breaker, 5)
        const delays = [yield* openFor]
        for (let i = 0; i < 4; i++) {
          yield* TestClock.adjust(Duration.seconds(delays.at(-1)!))
          yield* failing(breaker, 1) // the probe fails
          delays.push(yield* openFor)
        }
        expect(delays).toEqual([10, 20, 40, 60, 60])
        yield* TestClock.adjust("60 seconds")
        yield* succeeding(breaker)
        yield* failing(breaker, 5)
        expect(yield* openFor).toBe(10)
      }))

    it.effect("when the schedule ends, its last delay repeats", () =>
      Effect.gen(function*() {
        const breaker = yield* make({
          trip: CircuitBreaker.consecutiveFailures(1),
          openDuration: Schedule.exponential("1 second").pipe(Schedule.intersect(Schedule.recurs(2)))
        })
        const delays: Array<number | undefined> = []
        yield* failing(breaker, 1)
        for (let i = 0; i < 3; i++) {
          delays.push((yield* breaker.stats).secondsUntilRetry)
          yield* TestClock.adjust("1 minute")
          yield* failing(breaker, 1)
        }
        expect(delays).toEqual([1, 2, 2])
      }))
    it.effect("an interruption while a closed call announces its transition does not cut the announcement short", () =>
      Effect.gen(function*() {
        const reached = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        // The schedule's second step, taken while the first opening is announced, waits on the gate.
        const openDuration = Schedule.exponential("10 seconds").pipe(
          Schedule.tapOutput((delay) =>
            Duration.toMillis(delay) === 20_000
              ? Effect.zipRight(Deferred.succeed(reached, undefined), Deferred.await(gate))
              : Effect.void
          )
        )
        const breaker = yield* make({ trip: CircuitBreaker.consecutiveFailures(1), openDuration })
        const call = yield* Effect.fork(breaker.protect(Effect.fail(serverError)))
        yield* Deferred.await(reached)
        const interrupting = yield* Effect.fork(Fiber.interrupt(call))
        yield* Effect.yieldNow()
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(interrupting)
        expect(yield* breaker.stats).toMatchObject({ state: "OPEN", secondsUntilRetry: 10 })
        yield* TestClock.adjust("10 seconds")
        yield* failing(breaker, 1) // the probe fails: the schedule has stepped on, despite the interruption
        expect((yield* breaker.stats).secondsUntilRetry).toBe(20)
      }))
  })

  describe("trip strategies", () => {
    it.effect("failure ratio over the last N calls waits for minimumCalls", () =>
      Effect.gen(function*() {
        const breaker = yield* make({ trip: CircuitBreaker.failureRatio({ ratio: 0.5, size: 4, minimumCalls: 3 }) })
        yield* failing(breaker, 2)
        expect(yield* breaker.state).toBe("CLOSED") // 2/2 but under minimumCalls
        yield* succeeding(breaker)
        expect(yield* breaker.state).toBe("OPEN") // 2/3 ≥ 0.5
      }))

    it.effect("failure ratio over the last N calls forgets the oldest call", () =>
      Effect.gen(function*() {
        const breaker = yield* make({ trip: CircuitBreaker.failureRatio({ ratio: 0.5, size: 4 }) })
        // F S S S → 1/4; then S pushes the F out, F → 1/4 again; F → 2/4 opens.
        yield* failing(breaker, 1)
        for (let i = 0; i < 4; i++) yield* succeeding(breaker)
        yield* failing(breaker, 1)
        expect(yield* breaker.state).toBe("CLOSED")
        yield* failing(breaker, 1)
        expect(yield* breaker.stats).toMatchObject({ state: "OPEN", failureCount: 3 })
      }))

    it.effect("failure ratio over a time window: failures older than the window no longer count", () =>
      Effect.gen(function*() {
        const breaker = yield* make({
          trip: CircuitBreaker.failureRatio({ ratio: 0.5, duration: "10 seconds", minimumThroughput: 4 })
        })
        yield* failing(breaker, 3)
        yield* TestClock.adjust("10 seconds")
        yield* failing(breaker, 1)
        expect(yield* breaker.state).toBe("CLOSED") // 1 call in the window
        yield* TestClock.adjust("5 seconds")
        yield* failing(breaker, 2)
        yield* succeeding(breaker)
        expect(yield* breaker.state).toBe("OPEN") // 3 failures of 4 within 10 s
      }))

    it.effect("a time window is cut into buckets: a call stops counting when its bucket leaves", () =>
      Effect.gen(function*() {
        const breaker = yield* make({
          trip: CircuitBreaker.failureRatio({ ratio: 1, duration: "10 seconds", minimumThroughput: 2, buckets: 2 })
        })
        yield* TestClock.adjust(4999)
        yield* failing(breaker, 1) // bucket [0, 5 s)
        yield* TestClock.adjust(5001)
        yield* failing(breaker, 1) // at 10 s: bucket [10, 15 s), the first one has left
        expect(yield* breaker.state).toBe("CLOSED")
        yield* TestClock.adjust(4999)
        yield* failing(breaker, 1)
        expect(yield* breaker.state).toBe("OPEN")
      }))

    it.effect("slow calls: a call longer than the threshold counts, failed or not", () =>
      Effect.gen(function*() {
        const breaker = yield* make({
          trip: CircuitBreaker.slowCalls({ threshold: "2 seconds", ratio: 0.5, size: 4, minimumCalls: 4 })
        })
        yield* breaker.protect(taking(2000, Effect.void)) // exactly the threshold: not slow
        yield* breaker.protect(taking(2001, Effect.void))
        yield* breaker.protect(Effect.void)
        expect(yield* breaker.state).toBe("CLOSED")
        yield* Effect.exit(breaker.protect(taking(5000, Effect.fail(serverError))))
        expect(yield* breaker.stats).toMatchObject({ state: "OPEN", failureCount: 1 })
      }))

    it.effect("slow calls: a slow probe re-opens the breaker", () =>
      Effect.gen(function*() {
        const breaker = yield* make({
          trip: [CircuitBreaker.consecutiveFailures(1), CircuitBreaker.slowCalls({ threshold: "2 seconds" })],
          successThreshold: 1
        })
        yield* failing(breaker, 1)
        yield* TestClock.adjust("60 seconds")
        yield* breaker.protect(taking(3000, Effect.void))
        expect(yield* breaker.stats).toMatchObject({ state: "OPEN", openings: 2, lastSuccessTime: 63_000 })
      }))

    it.effect("several strategies: the first that trips opens the breaker, and says why", () =>
      Effect.gen(function*() {
        const log = capture()
        const breaker = yield* make({
          trip: [CircuitBreaker.consecutiveFailures(10), CircuitBreaker.failureRatio({ ratio: 0.5, size: 4 })]
        })
        yield* Effect.provide(
          Effect.gen(function*() {
            yield* succeeding(breaker)
            yield* succeeding(breaker)
            yield* failing(breaker, 2)
          }),
          log.layer
        )
        expect(log.lines).toEqual(["ERROR Circuit breaker for claude_api: CLOSED -> OPEN (failure ratio: 2/4 calls)"])
      }))
  })

  describe("half-open under concurrency", () => {
    it.effect.prop(
      "N fibers at once: exactly maxProbes get through, the others are refused with a short retryAfter",
      [fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 5 })],
      ([n, maxProbes]) =>
        Effect.gen(function*() {
          const breaker = yield* make({ maxProbes, successThreshold: 1, halfOpenRetryAfter: "2 seconds" })
          yield* failing(breaker, 5)
          yield* TestClock.adjust("60 seconds")
          const gate = yield* Deferred.make<void>()
          const everyoneDecided = yield* Deferred.make<void>()
          let inside = 0
          let decided = 0
          const decide = Effect.sync(() => ++decided).pipe(
            Effect.flatMap((count) => count === n ? Deferred.succeed(everyoneDecided, undefined) : Effect.void)
          )
          const fibers = yield* Effect.forEach(
            Array.from({ length: n }),
            () =>
              Effect.fork(
                breaker.protect(
                  Effect.sync(() => inside++).pipe(Effect.zipRight(decide), Effect.zipRight(Deferred.await(gate)))
                )
                  .pipe(Effect.tapError(() => decide))
              ),
            { concurrency: "unbounded" }
          )
          // Every call is in or refused before any probe ends.
          yield* Deferred.await(everyoneDecided)
          expect(inside).toBe(Math.min(n, maxProbes))
          expect(yield* breaker.stats).toMatchObject({ state: "HALF_OPEN", probesInFlight: Math.min(n, maxProbes) })
          yield* Deferred.succeed(gate, undefined)
          const exits = yield* Effect.forEach(fibers, Fiber.await)
          const refused = exits.filter(Exit.isFailure)
          expect(refused).toHaveLength(Math.max(0, n - maxProbes))
          for (const exit of refused) {
            expect(failureOf(exit)).toMatchObject({ _tag: "CircuitOpen", state: "HALF_OPEN" })
            expect(retryAfterMillis(exit)).toBe(2000)
          }
          expect(yield* breaker.state).toBe("CLOSED")
        })
    )

    it.effect("with one probe at a time, the next probe goes in after each success until the threshold", () =>
      Effect.gen(function*() {
        const breaker = yield* make({ successThreshold: 3 })
        yield* failing(breaker, 5)
        yield* TestClock.adjust("60 seconds")
        const states = []
        for (let i = 0; i < 3; i++) {
          const gate = yield* Deferred.make<void>()
          const probe = yield* inside(breaker, Deferred.await(gate))
          expect(failureOf(yield* succeeding(breaker))).toMatchObject({ _tag: "CircuitOpen", state: "HALF_OPEN" })
          yield* Deferred.succeed(gate, undefined)
          yield* Fiber.join(probe)
          states.push(yield* breaker.state)
        }
        expect(states).toEqual(["HALF_OPEN", "HALF_OPEN", "CLOSED"])
      }))
  })

  describe("manual control", () => {
    it.effect("isolate holds the breaker open until every handle is released; release is idempotent", () =>
      Effect.gen(function*() {
        const breaker = yield* make()
        const first = yield* breaker.isolate
        const second = yield* breaker.isolate
        const exit = yield* succeeding(breaker)
        expect(failureOf(exit)).toEqual(new CircuitBreaker.CircuitIsolated({ service: "claude_api" }))
        expect((failureOf(exit) as Error).message).toBe("Circuit breaker isolated for claude_api")
        yield* first
        yield* first
        expect(yield* breaker.stats).toMatchObject({ state: "ISOLATED", isolations: 1 })
        yield* second
        expect(yield* breaker.stats).toMatchObject({ state: "CLOSED", isolations: 0 })
      }))

    it.scoped("isolateScoped releases with its scope", () =>
      Effect.gen(function*() {
        const breaker = yield* make()
        yield* failing(breaker, 5)
        yield* Effect.scoped(Effect.gen(function*() {
          yield* breaker.isolateScoped
          expect(yield* breaker.state).toBe("ISOLATED")
        }))
        // Released: back to normal, not to the OPEN it was in before.
        expect(yield* breaker.stats).toMatchObject({ state: "CLOSED", consecutiveFailures: 0 })
      }))

    it.effect("reset closes with clean counters and drops outstanding isolation handles", () =>
      Effect.gen(function*() {
        const breaker = yield* make()
        yield* failing(breaker, 5)
        yield* breaker.reset
        expect(yield* breaker.stats).toMatchObject({ state: "CLOSED", consecutiveFailures: 0, failureCount: 0 })
        const release = yield* breaker.isolate
        yield* breaker.reset
        const again = yield* breaker.isolate
        yield* release // a handle from before the reset: no effect
        expect(yield* breaker.state).toBe("ISOLATED")
        yield* again
        expect(yield* breaker.state).toBe("CLOSED")
      }))
  })

  describe("observability", () => {
    it.effect("logs transitions as the seeds do: ERROR on opening, INFO otherwise, DEBUG per refusal", () =>
      Effect.gen(function*() {
        const log = capture()
        yield* Effect.gen(function*() {
          const breaker = yield* make()
          yield* failing(breaker, 5)
          yield* succeeding(breaker)
          yield* TestClock.adjust("60 seconds")
          yield* succeeding(breaker)
          yield* succeeding(breaker)
          yield* breaker.isolate
          yield* breaker.reset
        }).pipe(Effect.provide(log.layer), Logger.withMinimumLogLevel(LogLevel.Debug))
        expect(log.lines).toEqual([
          "ERROR Circuit breaker for claude_api: CLOSED -> OPEN (failures: 5)",
          "DEBUG Circuit breaker open for claude_api; retry after 1m",
          "INFO Circuit breaker for claude_api: OPEN -> HALF_OPEN",
          "INFO Circuit breaker for claude_api: HALF_OPEN -> CLOSED",
          "WARN Circuit breaker for claude_api: CLOSED -> ISOLATED (isolated)",
          "INFO Circuit breaker for claude_api: ISOLATED -> CLOSED (reset)"
        ])
      }))

    it.effect("annotates transition logs with service, from, to and reason", () =>
      Effect.gen(function*() {
        const annotations: Array<Record<string, unknown>> = []
        const logger = Logger.make(({ annotations: a }) => {
          annotations.push(Object.fromEntries(a))
        })
        yield* Effect.gen(function*() {
          const breaker = yield* make({ openDuration: "5 seconds" })
          yield* failing(breaker, 5)
        }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        expect(annotations).toEqual([
          { service: "claude_api", from: "CLOSED", to: "OPEN", reason: "tripped", open_ms: 5000 }
        ])
      }))

    it.effect("the state gauge and the transition and rejection counters, tagged by service", () =>
      Effect.gen(function*() {
        const service = "metrics-breaker"
        const gauge = Metric.tagged(Metrics.circuitState, "service", service)
        const transitions = (from: string, to: string) =>
          Metric.value(
            Metric.tagged(
              Metric.tagged(Metric.tagged(Metrics.circuitTransitions, "service", service), "from", from),
              "to",
              to
            )
          )
        const rejections = (state: string) =>
          Metric.value(Metric.tagged(Metric.tagged(Metrics.circuitRejections, "service", service), "state", state))
        const breaker = yield* make({ service, trip: CircuitBreaker.consecutiveFailures(1), successThreshold: 1 })
        expect((yield* Metric.value(gauge)).value).toBe(0)
        yield* failing(breaker, 1)
        expect((yield* Metric.value(gauge)).value).toBe(2)
        yield* succeeding(breaker)
        yield* succeeding(breaker)
        expect((yield* rejections("OPEN")).count).toBe(2)
        yield* TestClock.adjust("60 seconds")
        yield* succeeding(breaker)
        expect((yield* Metric.value(gauge)).value).toBe(0)
        const release = yield* breaker.isolate
        expect((yield* Metric.value(gauge)).value).toBe(3)
        yield* succeeding(breaker)
        expect((yield* rejections("ISOLATED")).count).toBe(1)
        yield* release
        expect((yield* transitions("CLOSED", "OPEN")).count).toBe(1)
        expect((yield* transitions("OPEN", "HALF_OPEN")).count).toBe(1)
        expect((yield* transitions("HALF_OPEN", "CLOSED")).count).toBe(1)
        expect((yield* transitions("CLOSED", "ISOLATED")).count).toBe(1)
        expect((yield* transitions("ISOLATED", "CLOSED")).count).toBe(1)
      }))

    it.scoped("a stream of state changes", () =>
      Effect.gen(function*() {
        const breaker = yield* make({ successThreshold: 1, openDuration: "10 seconds" })
        const changes = yield* breaker.subscribe
        const collected = yield* Effect.fork(Stream.runCollect(Stream.take(changes, 3)))
        yield* failing(breaker, 5)
        yield* TestClock.adjust("10 seconds")
        yield* succeeding(breaker)
        const seen = Chunk.toReadonlyArray(yield* Fiber.join(collected))
        expect(seen.map(({ from, reason, to }) => `${from} -> ${to} (${reason})`)).toEqual([
          "CLOSED -> OPEN (tripped)",
          "OPEN -> HALF_OPEN (open-elapsed)",
          "HALF_OPEN -> CLOSED (probes-succeeded)"
        ])
        expect(seen[0]).toMatchObject({ service: "claude_api", at: 0, detail: "failures: 5" })
        expect(Duration.toMillis(seen[0]!.openFor!)).toBe(10_000)
        expect(seen[2]!.at).toBe(10_000)
      }))
  })

  describe("snapshot and restore", () => {
    it.effect("a breaker restored from an OPEN snapshot whose period has passed is OPEN and probes on the next call", () =>
      Effect.gen(function*() {
        const breaker = yield* make()
        yield* failing(breaker, 5)
        const saved = yield* breaker.snapshot
        expect(saved).toMatchObject({ state: "OPEN", openUntil: 60_000, openings: 1, consecutiveFailures: 5 })
        yield* TestClock.adjust("2 minutes")
        const log = capture()
        const restored = yield* make({ restore: saved }).pipe(Effect.provide(log.layer))
        expect(yield* restored.stats).toMatchObject({ state: "OPEN", secondsUntilRetry: 0, consecutiveFailures: 5 })
        yield* succeeding(restored).pipe(Effect.provide(log.layer))
        expect(yield* restored.state).toBe("HALF_OPEN")
        expect(log.lines).toEqual([
          "INFO Circuit breaker for claude_api: restored OPEN (retry in 0)",
          "INFO Circuit breaker for claude_api: OPEN -> HALF_OPEN"
        ])
      }))

    it.effect("an OPEN snapshot keeps its absolute end time, and the schedule resumes where it was", () =>
      Effect.gen(function*() {
        const openDuration = Schedule.exponential("10 seconds")
        const breaker = yield* make({ openDuration, successThreshold: 1 })
        yield* failing(breaker, 5)
        yield* TestClock.adjust("10 seconds")
        yield* failing(breaker, 1) // second opening: 20 s
        yield* TestClock.adjust("5 seconds")
        const json = JSON.stringify(yield* Schema.encode(CircuitBreaker.Snapshot)(yield* breaker.snapshot))
        const restore = yield* Schema.decodeUnknown(Schema.parseJson(CircuitBreaker.Snapshot))(json)
        const restored = yield* make({ openDuration, restore })
        expect(yield* restored.stats).toMatchObject({ state: "OPEN", secondsUntilRetry: 15, openings: 2 })
        yield* TestClock.adjust("15 seconds")
        yield* failing(restored, 1)
        expect((yield* restored.stats).secondsUntilRetry).toBe(40)
      }))

    it.effect("a HALF_OPEN snapshot is restored OPEN with its period over; isolation is not saved", () =>
      Effect.gen(function*() {
        const breaker = yield* make({ successThreshold: 3 })
        yield* failing(breaker, 5)
        yield* TestClock.adjust("60 seconds")
        yield* succeeding(breaker)
        const restored = yield* make({ restore: yield* breaker.snapshot })
        expect(yield* restored.stats).toMatchObject({ state: "OPEN", secondsUntilRetry: 0 })
        yield* breaker.isolate
        const fromIsolated = yield* make({ restore: yield* breaker.snapshot })
        expect(yield* fromIsolated.stats).toMatchObject({ state: "CLOSED", consecutiveFailures: 0 })
      }))

    it.effect("a time window saved with another bucket count starts empty; an old snapshot without one too", () =>
      Effect.gen(function*() {
        const trip = (buckets: number) =>
          CircuitBreaker.failureRatio({ ratio: 0.5, duration: "10 seconds", minimumThroughput: 2, buckets })
        yield* TestClock.adjust("7 seconds")
        const breaker = yield* make({ trip: trip(2) })
        yield* failing(breaker, 1) // in the slice [5 s, 10 s) of 2
        const saved = yield* breaker.snapshot
        expect((yield* make({ trip: trip(2), restore: saved }).pipe(Effect.flatMap((b) => b.snapshot))).trackers)
          .toEqual(saved.trackers)
        const empty = [{ _tag: "TimeWindow", durationMillis: 10_000, bucketCount: 10, buckets: [] }]
        const recut = yield* make({ trip: trip(10), restore: saved })
        expect((yield* recut.snapshot).trackers).toEqual(empty)
        yield* failing(recut, 1)
        expect(yield* recut.state).toBe("CLOSED") // one call: the saved one is not read as a call at 1 s
        const { bucketCount: _, ...old } = saved.trackers[0] as Extract<
          CircuitBreaker.Snapshot["trackers"][number],
          { _tag: "TimeWindow" }
        >
        const legacy = yield* Schema.decodeUnknown(CircuitBreaker.Snapshot)({ ...saved, trackers: [old] })
        const fromLegacy = yield* make({ trip: trip(10), restore: legacy })
        expect((yield* fromLegacy.snapshot).trackers).toEqual(empty)
      }))

    it.effect("a snapshot of another service is refused", () =>
      Effect.gen(function*() {
        const other = yield* make({ service: "agent_http" })
        const result = yield* Effect.either(make({ restore: yield* other.snapshot }))
        expect(Either.flip(result).pipe(Either.getOrThrow)).toMatchObject({ _tag: "InvalidPolicy", field: "restore" })
      }))
  })

  describe("validation", () => {
    it.each(
      [
        [{ trip: CircuitBreaker.consecutiveFailures(0) }, "trip.threshold"],
        [{ trip: CircuitBreaker.consecutiveFailures(2.5) }, "trip.threshold"],
        [{ trip: CircuitBreaker.failureRatio({ ratio: 0 }) }, "trip.ratio"],
        [{ trip: CircuitBreaker.failureRatio({ ratio: 1.5 }) }, "trip.ratio"],
        [{ trip: CircuitBreaker.failureRatio({ size: 0 }) }, "trip.size"],
        [{ trip: CircuitBreaker.failureRatio({ size: 10, minimumCalls: 0 }) }, "trip.minimumCalls"],
        [{ trip: CircuitBreaker.failureRatio({ size: 10, minimumCalls: 11 }) }, "trip.minimumCalls"],
        [{ trip: CircuitBreaker.failureRatio({ duration: 0 }) }, "trip.duration"],
        [{ trip: CircuitBreaker.failureRatio({ duration: -5 }) }, "trip.duration"],
        [
          { trip: CircuitBreaker.failureRatio({ duration: "10 seconds", minimumThroughput: 0 }) },
          "trip.minimumThroughput"
        ],
        [{ trip: CircuitBreaker.failureRatio({ duration: "10 seconds", size: 10 }) }, "trip.size"],
        [{ trip: CircuitBreaker.failureRatio({ size: 10, minimumThroughput: 3 }) }, "trip.minimumThroughput"],
        [{ trip: CircuitBreaker.failureRatio({ duration: "10 seconds", buckets: 0 }) }, "trip.buckets"],
        [{ trip: CircuitBreaker.slowCalls({ threshold: -1 }) }, "trip.threshold"],
        [{ trip: CircuitBreaker.slowCalls({ ratio: -0.5 }) }, "trip.ratio"],
        [{ trip: [CircuitBreaker.consecutiveFailures(3), CircuitBreaker.failureRatio({ ratio: 2 })] }, "trip[1].ratio"],
        [{ trip: [] }, "trip"],
        [{ trip: { _tag: "Sometimes" } as unknown as CircuitBreaker.Trip }, "trip"],
        [{ openDuration: -1 }, "openDuration"],
        [{ openDuration: "soon" as Duration.DurationInput }, "openDuration"],
        [{ maxProbes: 0 }, "maxProbes"],
        [{ successThreshold: 0 }, "successThreshold"],
        [{ halfOpenRetryAfter: "-1 seconds" as Duration.DurationInput }, "halfOpenRetryAfter"],
        [{ isFailure: "yes" as unknown as () => boolean }, "isFailure"]
      ] as const
    )("%j is refused, naming %s", (options, field) => {
      const result = CircuitBreaker.settings(options as CircuitBreaker.Options)
      const error = Either.flip(result).pipe(Either.getOrThrow)
      expect(error).toBeInstanceOf(Errors.InvalidPolicy)
      expect(error).toMatchObject({ policy: "circuit-breaker", field })
      expect(error.message).toMatch(/^invalid circuit-breaker option .+ = .+: expected .+/)
    })

    it.effect("make fails with the typed error; an empty service name, or a schedule that never waits, is refused", () =>
      Effect.gen(function*() {
        const never = yield* Effect.either(make({ openDuration: Schedule.stop }))
        expect(Either.flip(never).pipe(Either.getOrThrow)).toMatchObject({ field: "openDuration" })
        const bad = yield* Effect.either(make({ maxProbes: 0 }))
        expect(Either.flip(bad).pipe(Either.getOrThrow)).toMatchObject({ _tag: "InvalidPolicy", field: "maxProbes" })
        const unnamed = yield* Effect.either(make({ service: "" }))
        expect(Either.flip(unnamed).pipe(Either.getOrThrow)).toMatchObject({ field: "service" })
        // Rendered like every other refused value, never thrown while building the error.
        const odd = yield* Effect.either(make({ service: 1n as unknown as string }))
        expect(Either.flip(odd).pipe(Either.getOrThrow)).toMatchObject({ field: "service", value: "1n" })
      }))

    it("fills in every default", () => {
      const settings = Either.getOrThrow(CircuitBreaker.settings())
      expect(settings).toMatchObject({
        trip: [{ _tag: "ConsecutiveFailures", threshold: 5 }],
        openDuration: 60_000,
        maxProbes: 1,
        successThreshold: 2,
        halfOpenRetryAfterMillis: 1000
      })
      const ratio = Either.getOrThrow(CircuitBreaker.settings({ trip: CircuitBreaker.failureRatio() }))
      expect(ratio.trip).toEqual([{ _tag: "FailureRatio", ratio: 0.5, size: 100, minimumCalls: 100 }])
      const timed = Either.getOrThrow(
        CircuitBreaker.settings({ trip: CircuitBreaker.slowCalls({ duration: "30 seconds" }) })
      )
      expect(timed.trip).toEqual([{
        _tag: "SlowCalls",
        threshold: 60_000,
        ratio: 1,
        duration: 30_000,
        minimumThroughput: 100,
        buckets: 10
      }])
    })
  })

  describe("from Config", () => {
    const fromEnv = (env: Record<string, string>, defaults: CircuitBreaker.Options = {}) =>
      CircuitBreaker.config(defaults).pipe(
        Config.nested("CIRCUIT_CLAUDE_API"),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" })),
        Effect.either
      )

    it.effect("reads every variable, over the user's defaults", () =>
      Effect.gen(function*() {
        const settings = Either.getOrThrow(
          yield* fromEnv({
            CIRCUIT_CLAUDE_API_FAILURE_THRESHOLD: "3",
            CIRCUIT_CLAUDE_API_FAILURE_RATIO: "0.5",
            CIRCUIT_CLAUDE_API_WINDOW_DURATION: "30 seconds",
            CIRCUIT_CLAUDE_API_MINIMUM_THROUGHPUT: "20",
            CIRCUIT_CLAUDE_API_SLOW_CALL_DURATION: "10 seconds",
            CIRCUIT_CLAUDE_API_OPEN_DURATION: "2 minutes",
            CIRCUIT_CLAUDE_API_MAX_PROBES: "2",
            CIRCUIT_CLAUDE_API_HALF_OPEN_RETRY_AFTER: "500 millis"
          }, { successThreshold: 4 })
        )
        expect(settings).toMatchObject({
          trip: [
            { _tag: "ConsecutiveFailures", threshold: 3 },
            { _tag: "FailureRatio", ratio: 0.5, duration: 30_000, minimumThroughput: 20, buckets: 10 },
            { _tag: "SlowCalls", threshold: 10_000, ratio: 1, duration: 30_000, minimumThroughput: 20 }
          ],
          openDuration: 120_000,
          maxProbes: 2,
          successThreshold: 4,
          halfOpenRetryAfterMillis: 500
        })
      }))

    it.effect("with no trip variable, the defaults' trip stays", () =>
      Effect.gen(function*() {
        const trip = CircuitBreaker.failureRatio({ size: 10 })
        const settings = Either.getOrThrow(yield* fromEnv({ CIRCUIT_CLAUDE_API_MAX_PROBES: "3" }, { trip }))
        expect(settings.trip).toEqual([{ _tag: "FailureRatio", ratio: 0.5, size: 10, minimumCalls: 10 }])
      }))

    it.effect.each(
      [
        [{ CIRCUIT_CLAUDE_API_FAILURE_THRESHOLD: "0" }, "FAILURE_THRESHOLD"],
        [{ CIRCUIT_CLAUDE_API_FAILURE_THRESHOLD: "many" }, "FAILURE_THRESHOLD"],
        [{ CIRCUIT_CLAUDE_API_FAILURE_RATIO: "1.5" }, "FAILURE_RATIO"],
        [{ CIRCUIT_CLAUDE_API_FAILURE_RATIO: "0.5", CIRCUIT_CLAUDE_API_WINDOW_SIZE: "0" }, "WINDOW_SIZE"],
        [{ CIRCUIT_CLAUDE_API_FAILURE_RATIO: "0.5", CIRCUIT_CLAUDE_API_MINIMUM_CALLS: "200" }, "MINIMUM_CALLS"],
        [
          { CIRCUIT_CLAUDE_API_FAILURE_RATIO: "0.5", CIRCUIT_CLAUDE_API_WINDOW_DURATION: "0 seconds" },
          "WINDOW_DURATION"
        ],
        [{ CIRCUIT_CLAUDE_API_WINDOW_SIZE: "10" }, "WINDOW_SIZE"],
        [{ CIRCUIT_CLAUDE_API_SLOW_CALL_DURATION: "-3 seconds" }, "SLOW_CALL_DURATION"],
        [{ CIRCUIT_CLAUDE_API_OPEN_DURATION: "-5 seconds" }, "OPEN_DURATION"],
        [{ CIRCUIT_CLAUDE_API_OPEN_DURATION: "a while" }, "OPEN_DURATION"],
        [{ CIRCUIT_CLAUDE_API_MAX_PROBES: "0" }, "MAX_PROBES"],
        [{ CIRCUIT_CLAUDE_API_SUCCESS_THRESHOLD: "1.5" }, "SUCCESS_THRESHOLD"],
        [{ CIRCUIT_CLAUDE_API_HALF_OPEN_RETRY_AFTER: "-1 millis" }, "HALF_OPEN_RETRY_AFTER"]
      ] as const
    )("%j fails with a ConfigError naming %s", ([env, key]) =>
      Effect.gen(function*() {
        const error = Either.flip(yield* fromEnv(env)).pipe(Either.getOrThrow)
        expect(String(error)).toContain(`CIRCUIT_CLAUDE_API.${key}`)
      }))
  })
})
