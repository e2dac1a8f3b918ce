import { Effect } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

/** What the loopback server answers; `reset` destroys the socket instead, after reading the request. */
export interface Reply {
  readonly status: number
  readonly reset?: boolean
  readonly headers?: Record<string, string>
  readonly body?: string
  /** Milliseconds to wait before answering. */
  readonly delay?: number
}

/** A request as the server saw it. */
export interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

/** A loopback server on a free port answering `reply(n)` to its n-th request; closed by the scope. */
export const serve = (reply: (call: number) => Reply) =>
  Effect.acquireRelease(
    Effect.async<{
      readonly url: string
      readonly calls: () => number
      readonly requests: () => ReadonlyArray<Seen>
      readonly server: http.Server
    }>((resume) => {
      let calls = 0
      const seen: Array<Seen> = []
      const server = http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          seen.push({
            method: request.method ?? "",
            url: request.url ?? "",
            headers: request.headers,
            body: Buffer.concat(chunks).toString("utf8")
          })
          const { body = "", delay = 0, headers = {}, reset, status } = reply(++calls)
          const answer = () => {
            if (reset === true) return void request.socket.destroy()
            response.writeHead(status, headers)
            response.end(body)
          }
          if (delay > 0) setTimeout(answer, delay)
          else answer()
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, calls: () => calls, requests: () => seen, server }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )
