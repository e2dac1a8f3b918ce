import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import { Prometheus } from "@bulwark/telemetry"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Layer } from "effect"
import * as Service from "../src/Service.js"
import * as Settings from "../src/Settings.js"

/** Breakers quick enough for a test: 3 failures open one for 300 ms; 2 probe successes close it. */
const breakers = CircuitBreakers.layer({
  defaults: { trip: CircuitBreaker.consecutiveFailures(3), openDuration: "300 millis", successThreshold: 2 }
})

const layers = Layer.mergeAll(breakers, Prometheus.layer(), FetchHttpClient.layer)

interface Answer {
  readonly status: number
  readonly body: any
}

const start = (settings: Partial<Settings.Settings>) =>
  Effect.map(Service.serve({ ...Settings.defaults, ...settings }), ({ url }) => {
    const call = (method: "GET" | "POST", path: string): Effect.Effect<Answer> =>
      Effect.promise(async (signal) => {
        const response = await fetch(`${url}${path}`, { method, signal })
        const text = await response.text()
        const json = response.headers.get("content-type")?.startsWith("application/json") ?? false
        return { status: response.status, body: json ? JSON.parse(text) : text }
      })
    return { url, call }
  })

/** Consecutive duplicates dropped: the states as a person reading the heartbeat would tell them. */
const transitions = (states: ReadonlyArray<string>) => states.filter((state, i) => state !== states[i - 1])

// One at a time: each test measures its upstream's fault window in wall-clock time.
describe.sequential("the heartbeat example", () => {
  it.live(
    "the OpenAI breaker goes CLOSED -> OPEN -> HALF_OPEN -> CLOSED, as /heartbeat shows",
    () =>
      Effect.gen(function*() {
        // Emulator time: healthy until 300 ms, 503 until 2.5 s, then healthy again. The window is
        // wide for a loaded machine: a request every ~50 ms needs only 3 of them inside it.
        const { call } = yield* start({ openai: { ...Settings.defaults.openai, faults: "status=503@300ms-2500ms" } })
        const seen: Array<string> = []
        const summaries: Array<{ readonly openai: string; readonly summary: Answer }> = []
        // One request, then one look at the heartbeat, until the breaker closed again after opening:
        // a cycle takes about 3 s; bounded at 12 s.
        const deadline = (yield* Clock.currentTimeMillis) + 12_000
        while ((yield* Clock.currentTimeMillis) < deadline) {
          const summary = yield* call("GET", "/summary?topic=breakers")
          const heartbeat = yield* call("GET", "/heartbeat")
          expect(heartbeat.status).toBe(200) // degraded is not down
          expect(heartbeat.body.breakers.ollama.state).toBe("CLOSED") // the other upstream is not affected
          const openai = heartbeat.body.breakers.openai
          seen.push(openai.state)
          summaries.push({ openai: openai.state, summary })
          expect(heartbeat.body.status).toBe(openai.state === "CLOSED" ? "ok" : "degraded")
          expect(openai.degraded).toBe(openai.state !== "CLOSED")
          if (openai.state === "OPEN") {
            expect(openai.seconds_until_retry).toBeGreaterThanOrEqual(0)
            expect(openai.seconds_until_retry).toBeLessThanOrEqual(0.3)
          } else {
            expect(openai.seconds_until_retry).toBeNull()
          }
          if (transitions(seen).length === 4) break
          yield* Effect.sleep("40 millis")
        }
        expect(transitions(seen)).toEqual(["CLOSED", "OPEN", "HALF_OPEN", "CLOSED"])

        // While the OpenAI breaker was open, the page still answered, with Ollama's part.
        const whileOpen = summaries.filter(({ openai }) => openai === "OPEN").map(({ summary }) => summary)
        expect(whileOpen.length).toBeGreaterThan(0)
        for (const summary of whileOpen) {
          expect(summary.status).toBe(200)
          expect(summary.body).toMatchObject({
            topic: "breakers",
            status: "degraded",
            parts: { ollama: { ok: true, model: "llama3.2:3b" }, openai: { ok: false, model: "gpt-4o-mini" } }
          })
        }
        expect(whileOpen.map(({ body }) => body.parts.openai.error)).toContainEqual(
          expect.stringMatching(/^Circuit breaker open for openai; retry after/)
        )
        expect(summaries.at(-1)!.summary.body.status).toBe("ok")

        const stats = yield* call("GET", "/breakers/openai")
        expect(stats.body).toMatchObject({ service: "openai", state: "CLOSED", consecutive_failures: 0, openings: 0 })
        const metrics = yield* call("GET", "/metrics")
        expect(metrics.status).toBe(200)
        expect(metrics.body).toMatch(/bulwark_circuit_transitions_total\{.*from="HALF_OPEN".*\} \d+/)
      }).pipe(Effect.scoped, Effect.provide(layers)),
    { timeout: 20_000 }
  )

  it.live(
    "POST /breakers/openai/reset closes an open breaker; an unknown breaker is a 404",
    () =>
      Effect.gen(function*() {
        const { call } = yield* start({ openai: { ...Settings.defaults.openai, faults: "status=503" } })
        for (let i = 0; i < 3; i++) expect((yield* call("GET", "/summary")).body.status).toBe("degraded")
        const open = yield* call("GET", "/heartbeat")
        expect(open.body).toMatchObject({ status: "degraded", breakers: { openai: { state: "OPEN", degraded: true } } })
        expect(open.body.breakers.openai.consecutive_failures).toBe(3)

        const reset = yield* call("POST", "/breakers/openai/reset")
        expect(reset).toMatchObject({ status: 200, body: { service: "openai", state: "CLOSED", failure_count: 0 } })
        const after = yield* call("GET", "/heartbeat")
        expect(after.body).toMatchObject({ status: "ok", breakers: { openai: { state: "CLOSED", degraded: false } } })

        // The upstream is still down: the next request fails, counted from zero again. Its two
        // attempts (a 503 without Retry-After is retried once) both count: the breaker sits inside
        // the retry, so it is checked before, and told about, every attempt (seed 004's order).
        expect((yield* call("GET", "/summary")).body.parts.openai.breaker).toBe("CLOSED")
        expect((yield* call("GET", "/breakers/openai")).body.consecutive_failures).toBe(2)

        const unknown = yield* call("POST", "/breakers/open-ai/reset")
        expect(unknown).toMatchObject({
          status: 404,
          body: { error: "BreakerNotFound", service: "open-ai", known: ["ollama", "openai"] }
        })
      }).pipe(Effect.scoped, Effect.provide(layers)),
    { timeout: 15_000 }
  )

  it.live(
    "both upstreams down: the page answers 503 with both reasons; a blank topic is a 400",
    () =>
      Effect.gen(function*() {
        const { call } = yield* start({
          ollama: { ...Settings.defaults.ollama, faults: "status=500" },
          openai: { ...Settings.defaults.openai, faults: "status=503" }
        })
        const down = yield* call("GET", "/summary")
        expect(down.status).toBe(503)
        expect(down.body).toMatchObject({
          topic: "circuit breakers",
          status: "down",
          parts: { ollama: { ok: false, breaker: "CLOSED" }, openai: { ok: false, breaker: "CLOSED" } }
        })
        expect(down.body.parts.ollama.error).toContain("HTTP 500")
        const blank = yield* call("GET", "/summary?topic=%20")
        expect(blank).toMatchObject({ status: 400, body: { error: "BadRequest" } })
      }).pipe(Effect.scoped, Effect.provide(layers)),
    { timeout: 15_000 }
  )
})
