import * as OrpheusEmulator from "@bulwark/emulators/OrpheusEmulator"
import { FetchHttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, TestClock } from "effect"
import * as http from "node:http"
import * as Busy from "../src/internal/orpheusBusy.js"
import * as Orpheus from "../src/Orpheus.js"
import { eventually, realSleep, sleepRegistered } from "./utils/clock.js"

/** A loopback server answering every request 429 with `headers` (what the emulator cannot send). */
const busyServer = (headers: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly requests: () => number }>((resume) => {
      let requests = 0
      const server = http.createServer((request, response) => {
        requests++
        request.resume()
        response.writeHead(429, { "content-type": "application/json", ...headers })
        response.end(JSON.stringify({ error: "GPU busy", message: "Another request is being processed" }))
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number }
        resume(Effect.succeed(Object.assign(server, { url: `http://127.0.0.1:${port}`, requests: () => requests })))
      })
    }),
    (server) =>
      Effect.async<void>((resume) => {
        ;(server as unknown as http.Server).close(() => resume(Effect.void))
      })
  )

const answer = (status: number, headers: Record<string, string>, requestId = "r-1") =>
  HttpClientResponse.fromWeb(
    HttpClientRequest.post("http://127.0.0.1:2000/predict").pipe(
      HttpClientRequest.setHeader("x-request-id", requestId)
    ),
    new Response("{}", { status, headers })
  )

const fiveSeconds = Duration.seconds(5)

describe("Orpheus busy answers: the hint, else the default", () => {
  it("only a readable hint is used; absent, empty, garbage or a date without Date is the default", () => {
    expect(Busy.busyHint({ "retry-after": "3" })).toEqual(Duration.seconds(3))
    expect(Busy.busyHint({ "retry-after-ms": "250", "retry-after": "3" })).toEqual(Duration.millis(250))
    expect(Busy.busyHint({ "retry-after-ms": "soon", "retry-after": "3" })).toEqual(Duration.seconds(3))
    expect(Busy.busyHint({
      "retry-after": "Wed, 21 Oct 2015 07:28:07 GMT",
      date: "Wed, 21 Oct 2015 07:28:00 GMT"
    })).toEqual(Duration.seconds(7))
    for (const raw of [undefined, "", "abc", "-3", "Wed, 21 Oct 2015 07:28:07 GMT", "1e3"]) {
      const headers: Record<string, string> = raw === undefined ? {} : { "retry-after": raw }
      expect(Busy.busyHint(headers), String(raw)).toBeUndefined()
    }
    const classify = Busy.classify("orpheus-base", fiveSeconds, new Map())
    const busy = classify(answer(429, { "retry-after": "abc" }), "")
    expect(Option.getOrThrow(busy!)).toMatchObject({ _tag: "RateLimited", retryAfter: fiveSeconds })
  })

  it("only calls in flight are recorded: a busy answer to any other request leaves no entry", () => {
    const seen: Busy.Seen = new Map()
    const classify = Busy.classify("orpheus-base", fiveSeconds, seen)
    classify(answer(429, {}, "health-1"), "")
    classify(answer(503, {}, "health-2"), "Service is busy processing another request")
    expect(seen.size).toBe(0)
    seen.set("call-1", undefined)
    classify(answer(429, { "retry-after": "abc" }, "call-1"), "")
    classify(answer(429, { "retry-after": "2" }, "call-1"), "")
    expect(seen.get("call-1")).toMatchObject({ count: 2, last: { retryAfter: Duration.seconds(2) } })
  })
})

// TestClock drives the client's waits and the emulator's GPU time: they share the test's Clock.
describe("Orpheus busy waits on the TestClock", () => {
  it.scoped("429 without Retry-After waits exactly the seed's 5 s, without using an attempt", () =>
    Effect.gen(function*() {
      const emulator = yield* OrpheusEmulator.make({ capacity: 1, serviceTime: "3s", busy: "429-no-retry-after" })
      const orpheus = yield* Orpheus.make({ urls: { base: emulator.url }, policy: { retry: { maxAttempts: 1 } } })
      const requests = Effect.map(emulator.stats, (stats) => stats.requests)
      const hog = yield* Effect.fork(orpheus.generate({ maxTokens: 4, clientJobId: "hog" }))
      yield* sleepRegistered(3000)
      const waiter = yield* Effect.fork(orpheus.generate({ maxTokens: 4, clientJobId: "waiter" }))
      yield* sleepRegistered(5000)
      expect((yield* emulator.stats).responses).toEqual({ 429: 1 })
      yield* TestClock.adjust(4999)
      expect((yield* Fiber.join(hog)).clientJobId).toBe("hog")
      yield* realSleep(20)
      expect(yield* requests).toBe(2)
      yield* TestClock.adjust(1)
      yield* eventually(Effect.map(requests, (n) => n === 3), "the waiter's second request")
      yield* sleepRegistered(3000)
      yield* TestClock.adjust(3000)
      expect((yield* Fiber.join(waiter)).clientJobId).toBe("waiter")
      expect((yield* emulator.stats).responses).toEqual({ 200: 2, 429: 1 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("Retry-After: abc waits the default (5 s, or busyRetryAfter), not the jittered backoff", () =>
    Effect.gen(function*() {
      for (const [busyRetryAfter, wait] of [[undefined, 5000], ["2 seconds", 2000]] as const) {
        const server = yield* busyServer({ "retry-after": "abc" })
        const orpheus = yield* Orpheus.make({ urls: { base: server.url }, busyRetryAfter })
        const call = yield* Effect.fork(orpheus.generate({ maxTokens: 4 }))
        yield* sleepRegistered(wait)
        yield* TestClock.adjust(wait - 1)
        yield* realSleep(20)
        expect(server.requests()).toBe(1)
        yield* TestClock.adjust(1)
        yield* eventually(Effect.sync(() => server.requests() === 2), "the retry")
        yield* Fiber.interrupt(call)
      }
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("a deadline after unreadable busy answers is still GpuBusy naming the job", () =>
    Effect.gen(function*() {
      const server = yield* busyServer({ "retry-after": "abc" })
      const orpheus = yield* Orpheus.make({
        urls: { base: server.url },
        policy: { totalTimeout: "12 seconds", attemptTimeout: "10 seconds" }
      })
      const call = yield* Effect.fork(Effect.flip(orpheus.generate({ maxTokens: 4, clientJobId: "job-abc" })))
      for (const n of [1, 2]) {
        yield* eventually(Effect.sync(() => server.requests() === n), `request ${n}`)
        yield* sleepRegistered(5000)
        yield* TestClock.adjust(5000)
      }
      yield* TestClock.adjust(5000)
      const error = yield* Fiber.join(call)
      expect(error).toMatchObject({ _tag: "GpuBusy", clientJobId: "job-abc", retryAfter: fiveSeconds })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("a per-call timeout that is no duration is InvalidInput naming timeout, nothing sent", () =>
    Effect.gen(function*() {
      const server = yield* busyServer({})
      const orpheus = yield* Orpheus.make({ urls: { base: server.url } })
      for (const timeout of ["soon", 0, -1] as Array<any>) {
        const error = yield* Effect.flip(orpheus.generate({ maxTokens: 4, timeout }))
        expect({ ...error }, String(timeout)).toMatchObject({
          _tag: "InvalidInput",
          service: "orpheus-base",
          operation: "generate",
          field: "timeout"
        })
      }
      expect(server.requests()).toBe(0)
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})
