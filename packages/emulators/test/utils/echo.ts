import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import * as Emulator from "../../src/Emulator.js"
import * as EmulatorStats from "../../src/EmulatorStats.js"

/** A tiny emulated service for the harness tests: `GET /hello` answers JSON, errors are `{"error": status}`. */
export const echo = (options: Emulator.CommonOptions = {}) =>
  Effect.gen(function*() {
    const stats = yield* EmulatorStats.make({ service: "echo" })
    const router = HttpRouter.empty.pipe(
      HttpRouter.get("/hello", HttpServerResponse.json({ hello: "world", padding: "x".repeat(64) })),
      HttpRouter.get("/work", stats.busy(Effect.sleep("20 millis")).pipe(Effect.as(HttpServerResponse.text("done"))))
    )
    return yield* Emulator.serve(router, {
      ...options,
      stats,
      failure: (status, decision) =>
        HttpServerResponse.unsafeJson({ error: status }, {
          status,
          headers: decision.statusEndsInMillis === undefined
            ? {}
            : { "retry-after": String(Math.ceil(decision.statusEndsInMillis / 1000)) }
        })
    })
  })
