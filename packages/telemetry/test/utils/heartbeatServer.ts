import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpApp from "@effect/platform/HttpApp"
import { Effect } from "effect"
import * as http from "node:http"

/** What a request got back: the status, the headers, and the body parsed as JSON. */
export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly body: any
}

/** Serves `app` on 127.0.0.1, port 0, for the life of the scope; `call` sends one request to it. */
export const serve = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.gen(function*() {
    const nodeServer = http.createServer()
    const server = yield* NodeHttpServer.make(() => nodeServer, { port: 0, host: "127.0.0.1" })
    // before the server's own close, which would wait for idle keep-alive connections
    yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
    yield* server.serve(app)
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    const url = `http://127.0.0.1:${port}`
    const call = (method: "GET" | "POST", path: string): Effect.Effect<Answer> =>
      Effect.promise(async (signal) => {
        const response = await fetch(`${url}${path}`, { method, signal })
        const text = await response.text()
        return { status: response.status, headers: response.headers, body: text === "" ? undefined : JSON.parse(text) }
      })
    return { url, call }
  })
