import { Effect } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

/** What the loopback server answers; `reset` destroys the socket instead. */
export interface Reply {
  readonly status: number
  readonly reset?: boolean
  readonly headers?: Record<string, string>
  readonly body?: string
}

/** A loopback server on a free port answering `reply(n)` to its n-th request; closed by the scope. */
export const serve = (reply: (call: number) => Reply) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly calls: () => number; readonly server: http.Server }>((resume) => {
      let calls = 0
      const server = http.createServer((request, response) => {
        request.resume()
        const { body = "", headers = {}, reset, status } = reply(++calls)
        if (reset === true) return void request.socket.destroy()
        response.writeHead(status, headers)
        response.end(body)
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, calls: () => calls, server }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )
