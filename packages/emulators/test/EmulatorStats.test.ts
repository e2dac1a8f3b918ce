import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import * as EmulatorStats from "../src/EmulatorStats.js"

describe("EmulatorStats", () => {
  it.effect("busy time over the window of traffic is the utilisation of the capacity", () =>
    Effect.gen(function*() {
      const stats = yield* EmulatorStats.make({ service: "gpu", capacity: 2 })
      yield* TestClock.adjust("1 second") // idle time before the first request is not counted
      const work = (millis: number) => stats.request(stats.busy(Effect.sleep(millis)))
      const fibers = yield* Effect.all([work(100), work(300)], { concurrency: 2 }).pipe(Effect.fork)
      yield* TestClock.adjust("100 millis")
      const midway = yield* stats.snapshot
      expect(midway).toMatchObject({ inFlight: 1, busyMillis: 200, windowMillis: 100, maxConcurrency: 2 })
      yield* TestClock.adjust("200 millis")
      yield* Fiber.join(fibers)
      yield* TestClock.adjust("1 second") // nor idle time after the last answer
      expect(yield* stats.snapshot).toMatchObject({
        requests: 2,
        inFlight: 0,
        busyMillis: 400,
        windowMillis: 300,
        utilization: 400 / 600
      })
    }))

  it.effect("counts answers, rejections, faults and client job ids", () =>
    Effect.gen(function*() {
      const stats = yield* EmulatorStats.make({ service: "svc" })
      yield* Effect.forEach([200, 200, 429, 503], stats.respond)
      yield* stats.fault("reset")
      yield* Effect.forEach(["a", "b", "a"], stats.clientJobId)
      expect(yield* stats.snapshot).toMatchObject({
        responses: { 200: 2, 429: 1, 503: 1 },
        rejections: { 429: 1, 503: 1 },
        faults: { reset: 1 },
        clientJobIds: ["a", "b"],
        clientJobIdRequests: 3,
        utilization: 0
      })
    }))

  it.effect("reset starts over, crediting work in flight from the reset instant only", () =>
    Effect.gen(function*() {
      const stats = yield* EmulatorStats.make({ service: "svc" })
      const fiber = yield* stats.request(stats.busy(Effect.sleep(100))).pipe(Effect.fork)
      yield* TestClock.adjust("50 millis")
      yield* stats.reset
      expect(yield* stats.snapshot).toMatchObject({
        requests: 1,
        inFlight: 1,
        maxConcurrency: 1,
        busyMillis: 0,
        windowMillis: 0
      })
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(fiber)
      yield* stats.respond(200)
      expect(yield* stats.snapshot).toMatchObject({
        requests: 1,
        inFlight: 0,
        maxConcurrency: 1,
        responses: { 200: 1 },
        busyMillis: 50,
        windowMillis: 50,
        utilization: 1
      })
    }))

  it.effect("a reset under load reads the load: full slots stay full, concurrency is what is in flight", () =>
    Effect.gen(function*() {
      const stats = yield* EmulatorStats.make({ service: "gpu", capacity: 2 })
      const work = stats.request(stats.busy(Effect.sleep(1000)))
      const fibers = yield* Effect.all([work, work, stats.request(Effect.sleep(1000))], { concurrency: 3 }).pipe(
        Effect.fork
      )
      yield* TestClock.adjust("400 millis")
      expect(yield* stats.snapshot).toMatchObject({ maxConcurrency: 3, busyMillis: 800, utilization: 1 })
      yield* stats.reset
      yield* TestClock.adjust("100 millis")
      expect(yield* stats.snapshot).toMatchObject({
        requests: 3,
        inFlight: 3,
        maxConcurrency: 3,
        busyMillis: 200,
        windowMillis: 100,
        utilization: 1
      })
      yield* TestClock.adjust("500 millis")
      yield* Fiber.join(fibers)
      expect(yield* stats.snapshot).toMatchObject({
        requests: 3,
        inFlight: 0,
        maxConcurrency: 3,
        busyMillis: 1200,
        windowMillis: 600,
        utilization: 1
      })
    }))

  it.effect("a reset while idle starts from nothing", () =>
    Effect.gen(function*() {
      const stats = yield* EmulatorStats.make({ service: "svc" })
      yield* stats.request(stats.busy(Effect.sleep(10))).pipe(Effect.fork)
      yield* TestClock.adjust("10 millis")
      yield* stats.reset
      yield* TestClock.adjust("10 millis")
      expect(yield* stats.snapshot).toMatchObject({
        requests: 0,
        inFlight: 0,
        maxConcurrency: 0,
        busyMillis: 0,
        windowMillis: 0,
        utilization: 0
      })
    }))
})
