/**
 * The two services the example depends on: a local model (Ollama) and a hosted
 * one (an OpenAI-compatible API). Each is called through its own
 * `ResilientClient`, whose breaker is the registry's breaker of that name, so
 * `/heartbeat` (which reads the registry) sees exactly the breakers the calls
 * go through. With no URL set, each is an in-process emulator with a fault
 * timeline.
 */
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as Policy from "@bulwark/core/Policy"
import { OllamaEmulator, OpenAiEmulator } from "@bulwark/emulators"
import { ResilientClient } from "@bulwark/http"
import { HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { Duration, Effect, Redacted, Schema } from "effect"
import type { Settings } from "./Settings.js"

/** The services, as the breakers, logs and metrics name them. */
export const names = ["ollama", "openai"] as const

export type Name = typeof names[number]

/**
 * A page must not wait on an upstream that is known to be down: a breaker
 * refusal or a Retry-After longer than this is given up at once, and the page
 * answers with what it has (seed 003's degraded mode).
 */
const maxWait = Duration.millis(100)

/**
 * The policy of one upstream around the registry's breaker of that name. `Policy.make`
 * builds a breaker of its own, so it is built without one and the registry's is put
 * in its place, in the same position (`Policy.compose` keeps the order).
 */
const policyWith = (service: Name, attemptTimeout: Duration.Duration) =>
  Effect.gen(function*() {
    const breaker = yield* Effect.flatMap(CircuitBreakers.CircuitBreakers, (breakers) => breakers.get(service))
    const base = yield* Policy.make({
      service,
      retry: { maxAttempts: 2, base: "50 millis", maxDelay: "200 millis", maxRetryAfter: maxWait },
      attemptTimeout,
      circuitBreaker: false
    })
    const layers: Policy.Layers = { ...base.layers, circuitBreaker: breaker }
    const policy: Policy.Policy = {
      service,
      layers,
      protect: Policy.compose(layers),
      stats: Effect.zipWith(base.stats, breaker.stats, (stats, circuitBreaker) => ({ ...stats, circuitBreaker }))
    }
    return policy
  })

/** What the page shows of a failed call: the policy's last error, not its wrapper. */
export const describe = (error: unknown): string => {
  const last = typeof error === "object" && error !== null && "lastError" in error ? error.lastError : error
  return last instanceof Error ? last.message : String(last)
}

const OllamaReply = Schema.Struct({ response: Schema.String })
const ChatReply = Schema.Struct({
  choices: Schema.NonEmptyArray(Schema.Struct({ message: Schema.Struct({ content: Schema.String }) }))
})

/** One upstream: ask it about `topic`; a failure is described for the page, never thrown. */
export interface Upstream {
  readonly name: Name
  /** Where the calls go. */
  readonly url: string
  readonly model: string
  readonly ask: (topic: string) => Effect.Effect<string, string>
}

const ollama = (settings: Settings) =>
  Effect.gen(function*() {
    const url = settings.ollama.url ??
      (yield* OllamaEmulator.make({ faults: settings.ollama.faults, tokenLatency: "1ms", numParallel: 4 })).url
    const client = yield* ResilientClient.make({
      service: "ollama",
      policy: yield* policyWith("ollama", settings.attemptTimeout)
    })
    const { model } = settings.ollama
    const ask = (topic: string) =>
      client.execute(
        HttpClientRequest.post(`${url}/api/generate`).pipe(
          HttpClientRequest.bodyUnsafeJson({ model, prompt: `Summarise ${topic} in one sentence.`, stream: false })
        ),
        // a generation changes nothing on the server: safe to repeat
        { idempotent: true }
      ).pipe(
        Effect.flatMap(HttpClientResponse.schemaBodyJson(OllamaReply)),
        Effect.map((reply) => reply.response.trim()),
        Effect.scoped,
        Effect.mapError(describe)
      )
    return { name: "ollama", url, model, ask } satisfies Upstream
  })

const openai = (settings: Settings) =>
  Effect.gen(function*() {
    const base = settings.openai.url ??
      `${(yield* OpenAiEmulator.make({ faults: settings.openai.faults })).url}/v1`
    const client = yield* ResilientClient.make({
      service: "openai",
      policy: yield* policyWith("openai", settings.attemptTimeout)
    })
    const { apiKey, model } = settings.openai
    const ask = (topic: string) =>
      client.execute(
        HttpClientRequest.post(`${base}/chat/completions`).pipe(
          apiKey === undefined ? (request) => request : HttpClientRequest.bearerToken(Redacted.value(apiKey)),
          HttpClientRequest.bodyUnsafeJson({
            model,
            messages: [{ role: "user", content: `Summarise ${topic} in one sentence.` }]
          })
        ),
        { idempotent: true }
      ).pipe(
        Effect.flatMap(HttpClientResponse.schemaBodyJson(ChatReply)),
        Effect.map((reply) => reply.choices[0].message.content.trim()),
        Effect.scoped,
        Effect.mapError(describe)
      )
    return { name: "openai", url: base, model, ask } satisfies Upstream
  })

/**
 * Both upstreams, with their emulators (when no URL is set) alive for the scope.
 * Needs the `CircuitBreakers` registry and an `HttpClient`.
 */
export const make = (settings: Settings) =>
  Effect.all([ollama(settings), openai(settings)]).pipe(
    Effect.withSpan("heartbeat.upstreams")
  )
