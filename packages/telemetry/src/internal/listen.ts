/**
 * A Node HTTP server listening for the life of the scope, the way every
 * server of this package listens.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as http from "node:http"

export const listen = (
  options: { readonly host: string; readonly port: number }
): Effect.Effect<HttpServer.HttpServer, HttpServerError.ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const nodeServer = http.createServer()
    // Uninterruptible: NodeHttpServer.make registers its close only once listening, so a server
    // interrupted during `listen` (a sibling layer failed) would stay bound and keep the process alive.
    const server = yield* Effect.uninterruptible(NodeHttpServer.make(() => nodeServer, options))
    // Runs before the server's own close, which would wait for idle keep-alive connections (a scraper's).
    yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
    return server
  })
