import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Ref } from "effect"
import * as http from "node:http"
import { decodeMetrics, decodeTraces } from "./otlpProtobuf.js"

/** One OTLP/HTTP export as the receiver saw it. */
export interface Received {
  readonly path: string
  readonly headers: Readonly<Record<string, string | undefined>>
  /** `application/x-protobuf` or `application/json`, without parameters. */
  readonly contentType: string
  /** The export in the shape of its JSON encoding, whichever encoding it came in. */
  readonly body: any
  /** What the receiver answered. */
  readonly status: number
}

const decode = (path: string, contentType: string, bytes: Uint8Array): any => {
  if (contentType === "application/json") return JSON.parse(new TextDecoder().decode(bytes))
  if (contentType !== "application/x-protobuf") throw new Error(`unexpected content type ${contentType}`)
  return path.endsWith("/v1/traces") ? decodeTraces(bytes) : decodeMetrics(bytes)
}

/**
 * A loopback OTLP/HTTP receiver on 127.0.0.1, a free port, for protobuf and
 * JSON: it keeps every export and answers `status` (200 `{}` as a collector
 * would, by default; 400 to see an exporter fail at once, with no retry),
 * which `setStatus` changes. Closed with the scope.
 */
export const receiver = (options: { readonly status?: number } = {}) =>
  Effect.gen(function*() {
    const received = yield* Ref.make<ReadonlyArray<Received>>([])
    const answer = yield* Ref.make(options.status ?? 200)
    const nodeServer = http.createServer()
    const server = yield* NodeHttpServer.make(() => nodeServer, { host: "127.0.0.1", port: 0 })
    yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
    yield* server.serve(
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const contentType = (request.headers["content-type"] ?? "").split(";")[0]!.trim()
        const body = decode(request.url, contentType, new Uint8Array(yield* request.arrayBuffer))
        const status = yield* Ref.get(answer)
        yield* Ref.update(
          received,
          (all) => [...all, { path: request.url, headers: request.headers, contentType, body, status }]
        )
        // an empty ExportServiceResponse, in the request's encoding
        return contentType === "application/json"
          ? yield* HttpServerResponse.json({}, { status })
          : HttpServerResponse.uint8Array(new Uint8Array(0), { status, contentType })
      }).pipe(Effect.orDie)
    )
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    return {
      url: `http://127.0.0.1:${port}`,
      received: Ref.get(received),
      setStatus: (status: number) => Ref.set(answer, status)
    }
  })

/** The string attributes of an OTLP resource or span, as a record. */
export const attributes = (list: ReadonlyArray<{ key: string; value: { stringValue?: string } }> = []) =>
  Object.fromEntries(list.map(({ key, value }) => [key, value.stringValue]))
