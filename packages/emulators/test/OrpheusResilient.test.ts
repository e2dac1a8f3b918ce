import { Retry, Timeout } from "@bulwark/core"
import * as HttpFailures from "@bulwark/http/HttpFailures"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import * as OrpheusEmulator from "../src/OrpheusEmulator.js"
import { elapse, nextWaits, pendingSleeps, pollUntil } from "./utils/testClock.js"

/** Three attempts, 1 ms apart: any longer wait is the server's hint. */
const fast = { retry: { maxAttempts: 3, base: "1 millis", jitter: "none" } } as const

const generate = (emulator: { url: string }, body: Record<string, unknown> = { max_tokens: 16 }) =>
  HttpClientRequest.post(`${emulator.url}/predict`).pipe(HttpClientRequest.bodyUnsafeJson(body))

const setup = (options: OrpheusEmulator.Options, policy: ResilientClient.Options["policy"] = fast) =>
  Effect.gen(function*() {
    const emulator = yield* OrpheusEmulator.make(options)
    const client = yield* ResilientClient.make({ service: "orpheus", policy })
    return { emulator, client }
  })

/**
 * Takes the GPU with a plain request, and waits until it holds the slot: on the TestClock, it keeps the slot
 * until the test moves the clock past its service time, however slow the machine.
 */
const occupy = (emulator: OrpheusEmulator.Service) =>
  Effect.zipLeft(
    Effect.forkScoped(Effect.promise(() =>
      fetch(`${emulator.url}/predict`, { method: "POST", body: "{\"max_tokens\":8}" }).then((r) => r.text())
    )),
    pollUntil(emulator.gpu, (gpu) =>
      gpu.inUse === 1)
  )

// The tests on the TestClock: no time passes between requests until the test moves the clock on, and the
// waits (the client's backoff, the server's hints, the GPU's service times) are read off the clock.
describe("OrpheusEmulator with ResilientClient", () => {
  it.scoped("a busy 429 is honoured: the client waits Retry-After (1 s), then succeeds", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ serviceTime: "200ms", retryAfterSeconds: 1 })
      yield* occupy(emulator)
      const response = yield* Effect.fork(client.execute(generate(emulator), { clientJobId: "job-1" }))
      // the client waits 1 s, past the blocker's 200 ms; then the retry takes its own 200 ms on the GPU
      expect(yield* pendingSleeps((fromNow) => fromNow.length === 2)).toEqual([200, 1000])
      yield* TestClock.adjust("1 second")
      yield* elapse(200)
      expect((yield* Fiber.join(response)).status).toBe(200)
      expect((yield* emulator.stats).responses).toEqual({ 200: 2, 429: 1 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("the retry-after-ms extension lets a client wait less than a second", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ serviceTime: "60ms", retryAfterMs: 80 })
      yield* occupy(emulator)
      const response = yield* Effect.fork(client.execute(generate(emulator), { clientJobId: "job-2" }))
      // 80 ms (retry-after-ms), not the 1 ms backoff nor the 30 s of the same answer's Retry-After
      expect(yield* pendingSleeps((fromNow) => fromNow.length === 2)).toEqual([60, 80])
      yield* TestClock.adjust("80 millis")
      yield* elapse(60)
      expect((yield* Fiber.join(response)).status).toBe(200)
      expect((yield* emulator.stats).responses).toEqual({ 200: 2, 429: 1 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("busy 503: a POST without a key is retried (the server did not process it)", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ serviceTime: "60ms", busy: "503" }, {
        retry: { maxAttempts: 5, base: "40 millis", jitter: "none" }
      })
      yield* occupy(emulator)
      const response = yield* Effect.fork(client.execute(generate(emulator)))
      // 503 at 0 and 40 ms; the blocker's 60 ms end before the retry at 120 ms, which then takes its own 60 ms
      yield* elapse(40)
      yield* elapse(80)
      yield* elapse(60)
      expect((yield* Fiber.join(response)).status).toBe(200)
      expect((yield* emulator.stats).responses).toEqual({ 200: 2, 503: 2 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("busy 429 for longer than the attempts: RetriesExhausted with the status and the service", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ serviceTime: "500ms", retryAfterSeconds: 0 })
      yield* occupy(emulator)
      const error = yield* Effect.fork(Effect.flip(client.execute(generate(emulator), { clientJobId: "job-3" })))
      // Retry-After 0: the backoff's 1 ms and 2 ms, all three attempts while the blocker holds the GPU
      yield* elapse(1)
      yield* elapse(2)
      const exhausted = yield* Fiber.join(error)
      expect(exhausted).toBeInstanceOf(Retry.RetriesExhausted)
      expect(exhausted).toMatchObject({
        attempts: 3,
        lastError: { _tag: "RateLimited", status: 429, service: "orpheus" }
      })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.live("a 422 is not retried, and carries FastAPI's detail", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({})
      const error = yield* Effect.flip(
        client.execute(generate(emulator, { temperature: 0 }), { clientJobId: "job-4" })
      )
      expect(error).toBeInstanceOf(HttpFailures.HttpRejected)
      expect(error).toMatchObject({ status: 422, service: "orpheus" })
      expect((error as HttpFailures.HttpRejected).excerpt).toContain("greater_than_equal")
      expect((yield* emulator.stats).requests).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.scoped("client_job_id is threaded through retries after resets, echoed and seen in the stats", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ faults: "reset@0s-60ms" }, {
        retry: { maxAttempts: 6, base: "25 millis", jitter: "none" }
      })
      const response = yield* Effect.fork(client.execute(generate(emulator), { clientJobId: "5f0c-a1:b.c_d" }))
      // reset at 0 and 25 ms; the retry at 75 ms is past the window
      yield* elapse(25)
      yield* elapse(50)
      const body = (yield* (yield* Fiber.join(response)).json) as { meta: { client_job_id: string } }
      expect(body.meta.client_job_id).toBe("5f0c-a1:b.c_d")
      const stats = yield* emulator.stats
      expect(stats.faults).toEqual({ reset: 2 })
      expect(stats.clientJobIds).toEqual(["5f0c-a1:b.c_d"])
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scoped("a 503 window: retried with the window's Retry-After hint until it ends", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ faults: "status=503@0s-300ms", retryAfterMs: 1 }, {
        retry: { maxAttempts: 4, base: "1 millis", jitter: "none" }
      })
      const response = yield* Effect.fork(client.execute(generate(emulator), { clientJobId: "job-5" }))
      // one 503, then a wait of the time left in the window (retry-after-ms): attempts 1 ms apart
      // that ignored it would have spent all four inside the window
      expect(yield* nextWaits).toEqual([300])
      yield* TestClock.adjust("300 millis")
      expect((yield* Fiber.join(response)).status).toBe(200)
      expect((yield* emulator.stats).faults).toEqual({ "status-503": 1 })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.live("a 500 is ambiguous: an unkeyed POST is not retried, a keyed one is until it gives up", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ faults: "status=500" })
      const unkeyed = yield* Effect.flip(client.execute(generate(emulator)))
      expect(unkeyed).toMatchObject({ _tag: "ServerError", status: 500, service: "orpheus" })
      const keyed = yield* Effect.flip(client.execute(generate(emulator), { clientJobId: "job-6" }))
      expect(keyed).toMatchObject({ _tag: "RetriesExhausted", attempts: 3, lastError: { status: 500 } })
      expect((yield* emulator.stats).requests).toBe(4)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("latency beyond the attempt timeout: AttemptTimedOut, retried only when keyed", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ faults: "latency=120ms" })
      const unkeyed = yield* Effect.flip(client.execute(generate(emulator), { timeout: "30 millis" }))
      expect(unkeyed).toBeInstanceOf(Timeout.AttemptTimedOut)
      const keyed = yield* Effect.flip(
        client.execute(generate(emulator), { timeout: "30 millis", clientJobId: "job-7" })
      )
      expect(keyed).toMatchObject({ _tag: "RetriesExhausted", attempts: 3, lastError: { _tag: "AttemptTimedOut" } })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("slow-body, wrong-content-type and truncated-json reach the caller as 200s it must check", () =>
    Effect.gen(function*() {
      for (
        const [faults, check] of [
          ["slow-body=100ms", (text: string) => expect(JSON.parse(text)).toHaveProperty("variations")],
          ["wrong-content-type", (text: string) => expect(text).toContain("<html>")],
          ["truncated-json", (text: string) => expect(() => JSON.parse(text)).toThrow()]
        ] as const
      ) {
        const { client, emulator } = yield* setup({ faults })
        const response = yield* client.execute(generate(emulator), { clientJobId: "job-8" })
        expect(response.status).toBe(200)
        check(yield* response.text)
      }
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})
