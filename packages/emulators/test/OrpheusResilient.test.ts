import { Retry, Timeout } from "@bulwark/core"
import * as HttpFailures from "@bulwark/http/HttpFailures"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Schedule } from "effect"
import * as OrpheusEmulator from "../src/OrpheusEmulator.js"

/** Three attempts, 1 ms apart: the tests sleep for real, so any longer wait is the server's hint. */
const fast = { retry: { maxAttempts: 3, base: "1 millis", jitter: "none" } } as const

const generate = (emulator: { url: string }, body: Record<string, unknown> = { max_tokens: 16 }) =>
  HttpClientRequest.post(`${emulator.url}/predict`).pipe(HttpClientRequest.bodyUnsafeJson(body))

const setup = (options: OrpheusEmulator.Options, policy: ResilientClient.Options["policy"] = fast) =>
  Effect.gen(function*() {
    const emulator = yield* OrpheusEmulator.make(options)
    const client = yield* ResilientClient.make({ service: "orpheus", policy })
    return { emulator, client }
  })

/** Takes the GPU with a plain request, and waits until it holds the slot. */
const occupy = (emulator: OrpheusEmulator.Service) =>
  Effect.zipLeft(
    Effect.forkScoped(Effect.promise(() =>
      fetch(`${emulator.url}/predict`, { method: "POST", body: "{\"max_tokens\":8}" }).then((r) => r.text())
    )),
    Effect.repeat(emulator.gpu, {
      until: (gpu) =>
        gpu.inUse === 1,
      schedule: Schedule.spaced("1 millis")
    })
  )

const elapsedSince = (start: number) => Effect.map(Clock.currentTimeMillis, (now) => now - start)

describe("OrpheusEmulator with ResilientClient", () => {
  it.live("a busy 429 is honoured: the client waits Retry-After (1 s), then succeeds", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ serviceTime: "200ms", retryAfterSeconds: 1 })
      yield* occupy(emulator)
      const start = yield* Clock.currentTimeMillis
      const response = yield* client.execute(generate(emulator), { clientJobId: "job-1" })
      expect(response.status).toBe(200)
      expect(yield* elapsedSince(start)).toBeGreaterThanOrEqual(950)
      expect((yield* emulator.stats).responses).toEqual({ 200: 2, 429: 1 })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("the retry-after-ms extension lets a client wait less than a second", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ serviceTime: "60ms", retryAfterMs: 80 })
      yield* occupy(emulator)
      const start = yield* Clock.currentTimeMillis
      const response = yield* client.execute(generate(emulator), { clientJobId: "job-2" })
      expect(response.status).toBe(200)
      const elapsed = yield* elapsedSince(start)
      expect(elapsed).toBeGreaterThanOrEqual(75)
      expect(elapsed).toBeLessThan(1000)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("busy 503: a POST without a key is retried (the server did not process it)", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ serviceTime: "60ms", busy: "503" }, {
        retry: { maxAttempts: 5, base: "40 millis", jitter: "none" }
      })
      yield* occupy(emulator)
      const response = yield* client.execute(generate(emulator))
      expect(response.status).toBe(200)
      // the blocker's 60 ms may outlast the first 40 ms backoff: one 503 or two, then the answer
      const responses = (yield* emulator.stats).responses
      expect(responses[200]).toBe(2)
      expect(responses[503]).toBeGreaterThanOrEqual(1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("busy 429 for longer than the attempts: RetriesExhausted with the status and the service", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ serviceTime: "500ms", retryAfterSeconds: 0 })
      yield* occupy(emulator)
      const error = yield* Effect.flip(client.execute(generate(emulator), { clientJobId: "job-3" }))
      expect(error).toBeInstanceOf(Retry.RetriesExhausted)
      expect(error).toMatchObject({ attempts: 3, lastError: { _tag: "RateLimited", status: 429, service: "orpheus" } })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

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

  it.live("client_job_id is threaded through retries after resets, echoed and seen in the stats", () =>
    Effect.gen(function*() {
      const { client, emulator } = yield* setup({ faults: "reset@0s-60ms" }, {
        retry: { maxAttempts: 6, base: "25 millis", jitter: "none" }
      })
      const response = yield* client.execute(generate(emulator), { clientJobId: "5f0c-a1:b.c_d" })
      const body = (yield* response.json) as { meta: { client_job_id: string } }
      expect(body.meta.client_job_id).toBe("5f0c-a1:b.c_d")
      const stats = yield* emulator.stats
      expect(stats.faults.reset).toBeGreaterThan(0)
      expect(stats.clientJobIds).toEqual(["5f0c-a1:b.c_d"])
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a 503 window: retried with the window's Retry-After hint until it ends", () =>
    Effect.gen(function*() {
      // the window is emulator time: it starts when the emulator does, after `before`
      const before = yield* Clock.currentTimeMillis
      const { client, emulator } = yield* setup({ faults: "status=503@0s-300ms", retryAfterMs: 1 }, {
        retry: { maxAttempts: 4, base: "1 millis", jitter: "none" }
      })
      const response = yield* client.execute(generate(emulator), { clientJobId: "job-5" })
      expect(response.status).toBe(200)
      expect(yield* elapsedSince(before)).toBeGreaterThanOrEqual(300)
      // one 503, then a wait of the time left in the window (retry-after-ms): attempts 1 ms apart
      // that ignored it would have spent all four inside the window
      expect((yield* emulator.stats).faults).toEqual({ "status-503": 1 })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

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
