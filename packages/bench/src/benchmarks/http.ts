/**
 * One GET over loopback, real sockets, kept alive: what the resilient client
 * adds to a request that succeeds, against the bare client it wraps and
 * against a bare `fetch`.
 */
import * as HttpFailures from "@bulwark/http/HttpFailures"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import type { Benchmark } from "../Harness.js"
import { effectLoop, promiseLoop } from "../Loops.js"

const body = JSON.stringify({ ok: true })

/** Set by `setup`, before any peer runs. */
let url = ""
let request = HttpClientRequest.get("http://127.0.0.1/")

const listen = async (): Promise<() => Promise<void>> => {
  const server = http.createServer({ keepAlive: true }, (_, response) => {
    response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
    response.end(body)
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", resolve)
  })
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  request = HttpClientRequest.get(url)
  return () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections()
      server.close((error) => error === undefined ? resolve() : reject(error))
    })
}

/** Clients are built once, as an application would at start-up; none of them sends anything yet. */
const build = <A, E>(effect: Effect.Effect<A, E, HttpClient.HttpClient>): A =>
  Effect.runSync(effect.pipe(Effect.provide(FetchHttpClient.layer), Logger.withMinimumLogLevel(LogLevel.None)))

const bare = build(HttpClient.HttpClient)
const classified = bare.pipe(Either.getOrThrow(HttpFailures.classify({ service: "bench" })))
const resilient = build(ResilientClient.make({ service: "bench" }))

// Every peer reads the whole body as text, so each request ends the same way.
const text = <E>(response: Effect.Effect<HttpClientResponse.HttpClientResponse, E>) =>
  Effect.flatMap(response, (received) => Effect.map(received.text, (text) => text.length))

export const benchmark: Benchmark = {
  name: "http",
  title: "one GET over loopback: the resilient client against a bare HttpClient and a bare fetch",
  description: [
    "A `node:http` server on 127.0.0.1 (port 0, keep-alive) answers every GET with 200 and an 11-byte JSON",
    "body; the requests go over real sockets, one after another, and every peer reads the body as text.",
    "`bare fetch` is `await (await fetch(url)).text()`. The Effect peers use @effect/platform's `HttpClient`",
    "from `FetchHttpClient.layer` (so the same `fetch` underneath) and make N requests inside one",
    "`Effect.runPromise`: `bare HttpClient` is `client.execute(HttpClientRequest.get(url))` then",
    "`response.text`; `HttpFailures.classify` sends it through the classification middleware only",
    "(`client.pipe(HttpFailures.classify({ service: \"bench\" }))`); `ResilientClient` through",
    "`ResilientClient.make({ service: \"bench\" })` with its default policy, `Policy.standard` (total timeout →",
    "retry with budget → breaker → Retry-After gate → attempt timeout), plus its request id header, log",
    "annotations and span. Clients are built once. The Effect rows are taken against `bare HttpClient`, and",
    "its own row gives its ratio to `bare fetch`: the added cost per request of each layer."
  ].join("\n"),
  setup: listen,
  peers: [
    {
      name: "bare fetch",
      group: "promise",
      bare: true,
      run: promiseLoop(async () => (await (await fetch(url)).text()).length)
    },
    {
      name: "bare HttpClient",
      group: "effect",
      bare: true,
      baseline: "bare fetch",
      run: effectLoop(Effect.suspend(() => text(bare.execute(request))))
    },
    {
      name: "HttpFailures.classify",
      group: "effect",
      run: effectLoop(Effect.suspend(() => text(classified.execute(request))))
    },
    {
      name: "ResilientClient",
      group: "effect",
      run: effectLoop(Effect.suspend(() => text(resilient.execute(request))))
    }
  ]
}
