import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { echo } from "./utils/echo.js"
import { tick } from "./utils/testClock.js"

const get = (url: string) =>
  Effect.promise(async () => {
    try {
      const response = await fetch(url)
      return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
    } catch (error) {
      return { status: 0, type: null, body: String((error as Error).cause ?? error) }
    }
  })

describe("Emulator", () => {
  it.live("serves the routes on 127.0.0.1 and counts them at /_emulator/stats", () =>
    Effect.gen(function*() {
      const emulator = yield* echo()
      expect(emulator.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(yield* get(`${emulator.url}/hello`)).toMatchObject({ status: 200 })
      expect(yield* get(`${emulator.url}/nope`)).toEqual({
        status: 404,
        type: "application/json",
        body: "{\"error\":404}"
      })
      const stats = JSON.parse((yield* get(`${emulator.url}/_emulator/stats`)).body)
      expect(stats).toMatchObject({
        service: "echo",
        requests: 2,
        responses: { 200: 1, 404: 1 },
        rejections: { 404: 1 }
      })
    }).pipe(Effect.scoped))

  it.live("injects each fault kind of the timeline", () =>
    Effect.gen(function*() {
      const status = yield* echo({ faults: "status=503@0s-1m" })
      expect(yield* get(`${status.url}/hello`)).toMatchObject({ status: 503, body: "{\"error\":503}" })
      const html = yield* echo({ faults: "wrong-content-type" })
      expect(yield* get(`${html.url}/hello`)).toMatchObject({ status: 200, type: "text/html; charset=utf-8" })
      const cut = yield* echo({ faults: "truncated-json" })
      const truncated = yield* get(`${cut.url}/hello`)
      expect(() => JSON.parse(truncated.body)).toThrow()
      const slow = yield* echo({ faults: "slow-body=100ms" })
      expect(JSON.parse((yield* get(`${slow.url}/hello`)).body)).toMatchObject({ hello: "world" })
      const reset = yield* echo({ faults: "reset" })
      expect((yield* get(`${reset.url}/hello`)).status).toBe(0)
      expect(yield* reset.stats).toMatchObject({ faults: { reset: 1 } })
    }).pipe(Effect.scoped))

  // On the TestClock: the first request is still at work when the second arrives, however slow the machine.
  it.scoped("measures busy time and concurrency", () =>
    Effect.gen(function*() {
      const emulator = yield* echo()
      const both = yield* Effect.fork(
        Effect.all([get(`${emulator.url}/work`), get(`${emulator.url}/work`)], { concurrency: 2 })
      )
      // both in flight, each sleeping out its 20 ms of work
      yield* tick(20, 1, 2)
      expect((yield* Fiber.join(both)).map((answer) => answer.status)).toEqual([200, 200])
      const stats = yield* emulator.stats
      expect(stats.maxConcurrency).toBe(2)
      expect(stats.busyMillis).toBe(40)
    }))
})
