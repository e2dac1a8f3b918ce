import * as Bulkhead from "@bulwark/core/Bulkhead"
import * as Metrics from "@bulwark/core/Metrics"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, FastCheck as fc, Fiber, Metric, TestClock } from "effect"
import { counterValue, gaugeValue, settle, tracker } from "./utils/concurrency.js"
import { failureOf } from "./utils/scripted.js"

const make = (options: Bulkhead.Options) => Bulkhead.make(options)

describe("Bulkhead", () => {
  it.effect("N fibers never exceed maxConcurrent, and all of them run", () =>
    Effect.gen(function*() {
      const bulkhead = yield* make({ service: "bh-n", maxConcurrent: 3, maxQueue: Infinity })
      const work = tracker()
      const fiber = yield* Effect.fork(
        Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => bulkhead.protect(work.hold(100 + (i % 4) * 50)),
          {
            concurrency: "unbounded"
          }
        )
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      expect(work.state.max).toBe(3)
      expect(work.state.finished).toBe(20)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, available: 3 })
    }))

  it.effect.prop(
    "random arrivals and durations: the limit and the queue bound hold, every call runs or is refused",
    {
      maxConcurrent: fc.integer({ min: 1, max: 4 }),
      maxQueue: fc.integer({ min: 0, max: 4 }),
      calls: fc.array(fc.record({ at: fc.integer({ min: 0, max: 500 }), hold: fc.integer({ min: 1, max: 300 }) }), {
        minLength: 1,
        maxLength: 25
      })
    },
    ({ calls, maxConcurrent, maxQueue }) =>
      Effect.gen(function*() {
        const bulkhead = yield* make({ service: "bh-prop", maxConcurrent, maxQueue })
        const work = tracker()
        let maxQueued = 0
        const fibers = yield* Effect.forEach(calls, ({ at, hold }) =>
          Effect.fork(
            Effect.sleep(at).pipe(
              Effect.zipRight(bulkhead.protect(work.hold(hold))),
              Effect.exit
            )
          ))
        // The queue only grows when a call arrives: sample it right after each arrival.
        let now = 0
        for (const at of [...new Set(calls.map((call) => call.at))].sort((a, b) => a - b)) {
          yield* TestClock.adjust(at - now)
          now = at
          maxQueued = Math.max(maxQueued, (yield* bulkhead.stats).queued)
        }
        yield* TestClock.adjust("1 minute")
        const exits = yield* Effect.forEach(fibers, Fiber.join)
        const refused = exits.filter(Exit.isFailure).map((exit) => failureOf(exit))
        expect(work.state.max).toBeLessThanOrEqual(maxConcurrent)
        expect(maxQueued).toBeLessThanOrEqual(maxQueue)
        expect(work.state.finished + refused.length).toBe(calls.length)
        for (const error of refused) expect(error).toBeInstanceOf(Bulkhead.BulkheadFull)
        expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, available: maxConcurrent })
      }),
    { timeout: 30_000, fastCheck: { numRuns: 50 } }
  )

  it.effect("over capacity with no queue: BulkheadFull at once, with its limits", () =>
    Effect.gen(function*() {
      const bulkhead = yield* make({ service: "ollama", maxConcurrent: 1 })
      const work = tracker()
      yield* Effect.fork(bulkhead.protect(work.hold(1000)))
      yield* settle
      const exit = yield* Effect.exit(bulkhead.protect(work.hold(1)))
      const error = failureOf(exit)
      expect(error).toBeInstanceOf(Bulkhead.BulkheadFull)
      expect(error).toMatchObject({ service: "ollama", maxConcurrent: 1, maxQueue: 0 })
      expect((error as Bulkhead.BulkheadFull).message).toBe("bulkhead for ollama is full: 1 running, 0 queued")
      expect(work.state.started).toEqual([0])
    }))

  it.effect("the queue is bounded and served first come, first served", () =>
    Effect.gen(function*() {
      const bulkhead = yield* make({ service: "bh-fifo", maxConcurrent: 1, maxQueue: 2 })
      const order: Array<string> = []
      const job = (name: string) =>
        bulkhead.protect(Effect.zipRight(Effect.sync(() => order.push(name)), Effect.sleep(100)))
      const a = yield* Effect.fork(job("a"))
      yield* settle
      const b = yield* Effect.fork(job("b"))
      yield* settle
      const c = yield* Effect.fork(job("c"))
      yield* settle
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 2, available: 0 })
      const d = yield* Effect.exit(job("d"))
      expect(failureOf(d)).toMatchObject({ _tag: "BulkheadFull", maxQueue: 2 })
      yield* TestClock.adjust(1000)
      yield* Fiber.join(Fiber.zip(a, Fiber.zip(b, c)))
      expect(order).toEqual(["a", "b", "c"])
    }))

  it.effect("a queued call that waits queueTimeout fails with BulkheadQueueTimeout and leaves the queue", () =>
    Effect.gen(function*() {
      const bulkhead = yield* make({ service: "bh-qt", maxConcurrent: 1, maxQueue: 5, queueTimeout: "2 seconds" })
      const work = tracker()
      yield* Effect.fork(bulkhead.protect(work.hold(10_000)))
      yield* settle
      const waiter = yield* Effect.fork(Effect.exit(bulkhead.protect(work.hold(1))))
      yield* settle
      expect((yield* bulkhead.stats).queued).toBe(1)
      yield* TestClock.adjust(1999)
      expect(waiter.unsafePoll()).toBeNull()
      yield* TestClock.adjust(1)
      const error = failureOf(yield* Fiber.join(waiter))
      expect(error).toBeInstanceOf(Bulkhead.BulkheadQueueTimeout)
      expect((error as Bulkhead.BulkheadQueueTimeout).message).toBe(
        "no bulkhead slot for bh-qt after waiting 2s"
      )
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 0, available: 0 })
      expect(work.state.started).toEqual([0])
    }))

  it.effect("a grant and a queue timeout at the same instant never lose a permit", () =>
    Effect.gen(function*() {
      const bulkhead = yield* make({ service: "bh-race", maxConcurrent: 1, maxQueue: 1, queueTimeout: 1000 })
      const work = tracker()
      yield* Effect.fork(bulkhead.protect(work.hold(1000)))
      yield* settle
      const waiter = yield* Effect.fork(Effect.exit(bulkhead.protect(work.hold(1000))))
      yield* TestClock.adjust(3000)
      yield* Fiber.join(waiter)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, available: 1 })
      yield* Effect.fork(bulkhead.protect(work.hold(1)))
      yield* settle
      expect(work.state.started.at(-1)).toBe(3000)
    }))

  it.effect("interruption while queued gives the place back", () =>
    Effect.gen(function*() {
      const bulkhead = yield* make({ service: "bh-int-q", maxConcurrent: 1, maxQueue: 1 })
      const work = tracker()
      yield* Effect.fork(bulkhead.protect(work.hold(1000)))
      yield* settle
      const queued = yield* Effect.fork(bulkhead.protect(work.hold(1)))
      yield* settle
      expect((yield* bulkhead.stats).queued).toBe(1)
      yield* Fiber.interrupt(queued)
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 0, available: 0 })
      // The place is free again: another call may queue, and runs when the slot frees.
      const next = yield* Effect.fork(bulkhead.protect(work.hold(1)))
      yield* TestClock.adjust(1001)
      yield* Fiber.join(next)
      expect(work.state.started).toEqual([0, 1000])
    }))

  it.effect("interruption while running releases the permit to the next in line", () =>
    Effect.gen(function*() {
      const bulkhead = yield* make({ service: "bh-int-r", maxConcurrent: 1, maxQueue: 1 })
      const work = tracker()
      const running = yield* Effect.fork(bulkhead.protect(work.hold(10_000)))
      yield* settle
      const queued = yield* Effect.fork(bulkhead.protect(work.hold(100)))
      yield* TestClock.adjust(500)
      yield* Fiber.interrupt(running)
      expect(work.state.interrupted).toBe(1)
      yield* settle
      expect(work.state.started).toEqual([0, 500])
      yield* TestClock.adjust(100)
      yield* Fiber.join(queued)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, available: 1 })
    }))

  it.effect("a failing call releases its permit and its failure passes through unchanged", () =>
    Effect.gen(function*() {
      const bulkhead = yield* make({ service: "bh-fail", maxConcurrent: 1 })
      expect(yield* Effect.flip(bulkhead.protect(Effect.fail("boom" as const)))).toBe("boom")
      expect(yield* Effect.exit(bulkhead.protect(Effect.die("bug")))).toEqual(Exit.die("bug"))
      expect(yield* bulkhead.protect(Effect.succeed(42))).toBe(42)
    }))

  it.effect("gauges and the rejection counter are tagged by service", () =>
    Effect.gen(function*() {
      const service = "bh-metrics"
      const bulkhead = yield* make({ service, maxConcurrent: 2, maxQueue: 1, queueTimeout: 50 })
      const work = tracker()
      yield* Effect.fork(bulkhead.protect(work.hold(1000)))
      yield* Effect.fork(bulkhead.protect(work.hold(1000)))
      yield* Effect.fork(Effect.exit(bulkhead.protect(work.hold(1000))))
      yield* settle
      yield* Effect.exit(bulkhead.protect(work.hold(1)))
      const active = Metric.tagged(Metrics.bulkheadActive, "service", service)
      const queued = Metric.tagged(Metrics.bulkheadQueued, "service", service)
      const rejections = Metric.tagged(Metrics.bulkheadRejections, "service", service)
      expect(yield* gaugeValue(active)).toBe(2)
      expect(yield* gaugeValue(queued)).toBe(1)
      expect(yield* counterValue(Metric.tagged(rejections, "reason", "full"))).toBe(1)
      yield* TestClock.adjust(50)
      expect(yield* counterValue(Metric.tagged(rejections, "reason", "queue-timeout"))).toBe(1)
      expect(yield* gaugeValue(queued)).toBe(0)
      yield* TestClock.adjust(1000)
      expect(yield* gaugeValue(active)).toBe(0)
    }))

  describe("bad configuration", () => {
    const refused = (options: Bulkhead.Options) => Effect.flip(Bulkhead.make(options))

    it.effect("names the field", () =>
      Effect.gen(function*() {
        expect(yield* refused({ maxConcurrent: 0 })).toMatchObject({
          _tag: "InvalidPolicy",
          policy: "bulkhead",
          field: "maxConcurrent"
        })
        expect((yield* refused({ maxConcurrent: 1.5 })).field).toBe("maxConcurrent")
        expect((yield* refused({ maxConcurrent: Infinity })).field).toBe("maxConcurrent")
        expect((yield* refused({} as Bulkhead.Options)).field).toBe("maxConcurrent")
        expect((yield* refused({ maxConcurrent: 1, maxQueue: -1 })).field).toBe("maxQueue")
        expect((yield* refused({ maxConcurrent: 1, queueTimeout: -5 })).field).toBe("queueTimeout")
        expect((yield* refused({ maxConcurrent: 1, service: "" })).field).toBe("service")
        expect((yield* refused({ maxConcurrent: 0 })).message).toBe(
          "invalid bulkhead option maxConcurrent = 0: expected an integer ≥ 1"
        )
      }))
  })
})
