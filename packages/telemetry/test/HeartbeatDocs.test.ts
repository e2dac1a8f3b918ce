import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as Errors from "@bulwark/core/Errors"
import { expectDocRegions } from "@bulwark/test-support/DocRegions"
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { createServer } from "node:http"
import * as Heartbeat from "../src/Heartbeat.js"

const callClaude = Effect.fail(new Errors.Unavailable({ service: "claude_api", status: 503 }))

describe("docs/heartbeat.md", () => {
  it("shows only code that runs here", () => expectDocRegions("heartbeat.md", __filename))

  it.effect("status", () =>
    Effect.gen(function*() {
      const status = yield* Effect.gen(function*() {
        // #region status
        const breakers = yield* CircuitBreakers.CircuitBreakers
        yield* callClaude.pipe(breakers.protect("claude_api"), Effect.ignore, Effect.repeatN(4))
        yield* TestClock.adjust("12 seconds")
        const status = yield* Heartbeat.status
        // status.status === "degraded"
        // status.breakers.claude_api: { state: "OPEN", degraded: true, consecutiveFailures: 5, secondsUntilRetry: 48, ... }
        // #endregion
        return status
      }).pipe(Effect.provide(CircuitBreakers.layer()))
      expect(status.status).toBe("degraded")
      expect(status.breakers.claude_api).toMatchObject({
        state: "OPEN",
        degraded: true,
        consecutiveFailures: 5,
        secondsUntilRetry: 48
      })
    }))

  it.effect("stats and reset", () =>
    Effect.gen(function*() {
      const [before, after, missing] = yield* Effect.gen(function*() {
        const breakers = yield* CircuitBreakers.CircuitBreakers
        yield* callClaude.pipe(breakers.protect("claude_api"), Effect.ignore, Effect.repeatN(4))
        // #region reset
        const before = yield* Heartbeat.breaker("claude_api") // seed 004's get_stats("claude_api")
        const after = yield* Heartbeat.reset("claude_api") // seed 004's reset("claude_api")
        const missing = yield* Effect.flip(Heartbeat.reset("claude"))
        // before.state === "OPEN", after.state === "CLOSED"
        // missing.message === 'No circuit breaker named "claude" (known: claude_api)'
        // #endregion
        return [before, after, missing] as const
      }).pipe(Effect.provide(CircuitBreakers.layer()))
      expect([before.state, after.state]).toEqual(["OPEN", "CLOSED"])
      expect(missing.message).toBe("No circuit breaker named \"claude\" (known: claude_api)")
    }))

  it.live("serve", () =>
    Effect.gen(function*() {
      const port = 0 // a free port, for the test
      // #region serve
      const app = HttpRouter.empty.pipe(
        HttpRouter.get("/", Effect.succeed(HttpServerResponse.text("hello"))),
        HttpRouter.concat(Heartbeat.makeRouter({ degradedStatus: 503 })) // 503 while degraded: a readiness probe
      )
      const ServerLive = HttpServer.serve(app).pipe(
        Layer.provideMerge(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })),
        Layer.provide(CircuitBreakers.layer({ defaults: { trip: CircuitBreaker.consecutiveFailures(3) } }))
      )
      // run it with Layer.launch(ServerLive)
      // #endregion
      const answer = yield* HttpServer.addressWith((address) =>
        Effect.promise(() =>
          fetch(`http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}/heartbeat`).then(
            async (response) => ({ status: response.status, body: await response.json() })
          )
        )
      ).pipe(Effect.provide(ServerLive))
      expect(answer).toMatchObject({ status: 200, body: { status: "ok", breakers: {}, jobs: null } })
    }))
})
