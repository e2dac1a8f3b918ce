import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Ref } from "effect"
import * as http from "node:http"

/** One OTLP/HTTP export as the receiver saw it. */
export interface Received {
  readonly path: string
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: any
}

/**
 * A loopback OTLP/HTTP (JSON) receiver on 127.0.0.1, a free port: it keeps
 * every export and answers 200 `{}`, as a collector would. Closed with the scope.
 */
export const receiver = Effect.gen(function*() {
  const received = yield* Ref.make<ReadonlyArray<Received>>([])
  const nodeServer = http.createServer()
  const server = yield* NodeHttpServer.make(() => nodeServer, { host: "127.0.0.1", port: 0 })
  yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
  yield* server.serve(Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const body = yield* request.json
    yield* Ref.update(received, (all) => [...all, { path: request.url, headers: request.headers, body }])
    return yield* HttpServerResponse.json({})
  }))
  const port = server.address._tag === "TcpAddress" ? server.address.port : 0
  return { url: `http://127.0.0.1:${port}`, received: Ref.get(received) }
})

/** The string attributes of an OTLP resource or span, as a record. */
export const attributes = (list: ReadonlyArray<{ key: string; value: { stringValue?: string } }> = []) =>
  Object.fromEntries(list.map(({ key, value }) => [key, value.stringValue]))
