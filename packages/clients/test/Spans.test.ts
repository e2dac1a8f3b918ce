import * as GitHubEmulator from "@bulwark/emulators/GitHubEmulator"
import * as OllamaEmulator from "@bulwark/emulators/OllamaEmulator"
import * as OpenAiEmulator from "@bulwark/emulators/OpenAiEmulator"
import * as OrpheusEmulator from "@bulwark/emulators/OrpheusEmulator"
import { FetchHttpClient, HttpClient, HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, HashMap, Logger, Redacted, Tracer } from "effect"
import * as GitHub from "../src/GitHub.js"
import * as GitHubAppToken from "../src/GitHubAppToken.js"
import * as GitHubEndpoint from "../src/GitHubEndpoint.js"
import * as Spans from "../src/internal/spans.js"
import * as Llm from "../src/Llm.js"
import * as Ollama from "../src/Ollama.js"
import * as Orpheus from "../src/Orpheus.js"
import { app } from "./utils/keys.js"

interface Line {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** Runs `self` with a logger and a tracer that record every log line and every span. */
const observed = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<Line> = []
    const spans: Array<Tracer.Span> = []
    const logger = Logger.make(({ annotations, logLevel, message }) => {
      lines.push({
        level: logLevel.label,
        message: String(message),
        annotations: Object.fromEntries(HashMap.toEntries(annotations))
      })
    })
    const tracer = yield* Effect.tracerWith((base) =>
      Effect.succeed(Tracer.make({
        span: (...args) => {
          const span = base.span(...args)
          spans.push(span)
          return span
        },
        context: base.context
      }))
    )
    const result = yield* self.pipe(
      Effect.withTracer(tracer),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger))
    )
    const warnings = lines.filter((line) => line.level === "WARN")
    const attributesOf = (name: string) =>
      Object.fromEntries(spans.find((span) => span.name === name)?.attributes ?? [])
    return { result, warnings, attributesOf }
  })

const live = <A, E>(name: string, self: () => Effect.Effect<A, E, any>) =>
  it.live(name, () => self().pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)) as Effect.Effect<A, E>)

/** Answers the first request whose URL matches with `status`, below the policy: one retry, every time. */
const failFirst = (match: RegExp, status: number) => (client: HttpClient.HttpClient): HttpClient.HttpClient => {
  let left = 1
  return HttpClient.transform(client, (effect, request) =>
    match.test(request.url) && left-- > 0
      ? Effect.succeed(HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify({ message: "unavailable", detail: "GPU busy" }), {
          status,
          headers: { "content-type": "application/json" }
        })
      ))
      : effect)
}

describe("Spans", () => {
  it("attributes: one vocabulary, absent fields left out", () => {
    expect(Spans.attributes({ service: "s", operation: "op", model: "m", task: "t", clientJobId: "j" })).toEqual({
      "bulwark.service": "s",
      "bulwark.operation": "op",
      "bulwark.model": "m",
      "bulwark.task": "t",
      "bulwark.client_job_id": "j"
    })
    expect(Spans.attributes({ service: "s", operation: "op", model: "" })).toEqual({
      "bulwark.service": "s",
      "bulwark.operation": "op"
    })
    expect(Spans.logAnnotations({ service: "s", operation: "op", clientJobId: "j" })).toEqual({
      operation: "op",
      client_job_id: "j"
    })
  })
})

describe("every client: the job id and the request on the retry warnings and the span", () => {
  live("Orpheus: a 429 (GPU busy) retried", () =>
    Effect.gen(function*() {
      const server = yield* OrpheusEmulator.make({})
      const orpheus = yield* Orpheus.make({
        urls: { base: server.url },
        busyRetryAfter: "5 millis",
        transformClient: failFirst(/\/predict/, 429)
      })
      const { attributesOf, result, warnings } = yield* observed(
        orpheus.generate({ clientJobId: "job-7", maxTokens: 16 })
      )
      expect(result.clientJobId).toBe("job-7")
      expect((yield* server.stats).requests).toBe(1)
      expect(warnings.length).toBeGreaterThan(0)
      for (const line of warnings) {
        expect(line.annotations, line.message).toMatchObject({
          client_job_id: "job-7",
          model: "base",
          task: "generate",
          service: "orpheus-base"
        })
      }
      expect(attributesOf("Orpheus.generate")).toMatchObject({
        "bulwark.service": "orpheus-base",
        "bulwark.operation": "generate",
        "bulwark.model": "base",
        "bulwark.task": "generate",
        "bulwark.client_job_id": "job-7"
      })
    }))

  live("Ollama: a 503 retried", () =>
    Effect.gen(function*() {
      const emulator = yield* OllamaEmulator.make({ tokenLatency: "0ms" })
      const ollama = yield* Ollama.make({
        baseUrl: emulator.url,
        policy: { retry: { base: "1 millis", maxDelay: "5 millis" } },
        transformClient: failFirst(/\/api\/generate$/, 503)
      })
      const request = { model: "llama3.2:3b", prompt: "Hello", options: { num_predict: 4 } }
      const { attributesOf, result, warnings } = yield* observed(
        ollama.generate(request, { clientJobId: "job-7", task: "review" })
      )
      expect(result.done).toBe(true)
      expect(warnings.length).toBeGreaterThan(0)
      for (const line of warnings) {
        expect(line.annotations, line.message).toMatchObject({
          client_job_id: "job-7",
          model: "llama3.2:3b",
          task: "review",
          service: "ollama"
        })
      }
      expect(attributesOf("Ollama.generate")).toMatchObject({
        "bulwark.service": "ollama",
        "bulwark.operation": "generate",
        "bulwark.model": "llama3.2:3b",
        "bulwark.task": "review",
        "bulwark.client_job_id": "job-7"
      })
    }))

  live("Llm: a 503 retried", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({ apiKey: "sk-test" })
      const llm = yield* Llm.make({
        baseUrl: `${emulator.url}/v1`,
        apiKey: Redacted.make("sk-test"),
        policy: { retry: { base: "1 millis", maxDelay: "5 millis" }, rateLimiter: false },
        transformClient: failFirst(/\/chat\/completions$/, 503)
      })
      const { attributesOf, warnings } = yield* observed(
        llm.create({ messages: [{ role: "user", content: "Hi" }] }, { clientJobId: "job-7", task: "review" })
      )
      expect(warnings.length).toBeGreaterThan(0)
      for (const line of warnings) {
        expect(line.annotations, line.message).toMatchObject({
          client_job_id: "job-7",
          model: Llm.defaults.model,
          task: "review",
          service: "llm"
        })
      }
      expect(attributesOf("Llm.create")).toMatchObject({
        "bulwark.service": "llm",
        "bulwark.operation": "create",
        "bulwark.model": Llm.defaults.model,
        "bulwark.task": "review",
        "bulwark.client_job_id": "job-7"
      })
    }))

  live("GitHub: a 503 of the comment retried", () =>
    Effect.gen(function*() {
      const emulator = yield* GitHubEmulator.make({ appId: 42, publicKey: app.publicKey })
      const tokens = yield* GitHubAppToken.make({
        appId: 42,
        privateKey: Redacted.make(app.privateKey),
        installationId: 1,
        apiUrl: emulator.url
      })
      const github = yield* GitHub.make({
        apiUrl: emulator.url,
        policy: { retry: { base: "1 millis", maxDelay: "5 millis" } },
        transformClient: failFirst(/\/comments$/, 503)
      }).pipe(Effect.provideService(GitHubAppToken.GitHubAppToken, tokens))
      const { attributesOf, warnings } = yield* observed(
        github.createComment(
          { owner: "octo-org", repo: "hello", issue_number: 1, body: "Me too" },
          { clientJobId: "job-7", task: "review", idempotencyKey: "comment-1" }
        )
      )
      expect(warnings.length).toBeGreaterThan(0)
      for (const line of warnings) {
        expect(line.annotations, line.message).toMatchObject({
          client_job_id: "job-7",
          task: "review",
          service: "github"
        })
      }
      expect(attributesOf(`GitHub.${GitHubEndpoint.createComment.name}`)).toMatchObject({
        "bulwark.service": "github",
        "bulwark.operation": GitHubEndpoint.createComment.name,
        "bulwark.task": "review",
        "bulwark.client_job_id": "job-7"
      })
    }))
})
