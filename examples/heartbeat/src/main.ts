/**
 * Runs the service with its load generator: the OpenAI upstream fails on its
 * fault timeline (503 from 3 s to 8 s), its breaker opens, probes and closes,
 * and every step shows in the log. `--serve` keeps serving afterwards.
 *
 *   pnpm --filter @bulwark/example-heartbeat start
 *   pnpm --filter @bulwark/example-heartbeat start --serve   # then: curl localhost:8080/heartbeat
 */
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import { Prometheus } from "@bulwark/telemetry"
import { FetchHttpClient } from "@effect/platform"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Layer } from "effect"
import * as Config from "./config.js"
import * as Logger from "./logger.js"
import { program } from "./program.js"

const Live = Layer.mergeAll(
  // CIRCUIT_DEFAULT_* and CIRCUIT_<OLLAMA|OPENAI>_* over these: 5 failures (the seeds), 2 s open so the demo is short
  CircuitBreakers.layerConfig({ names: ["ollama", "openai"], defaults: { openDuration: "2 seconds" } }),
  Prometheus.layer({ serviceName: "heartbeat-example" }),
  FetchHttpClient.layer
)

Effect.gen(function*() {
  const settings = yield* Config.load(process.argv.slice(2))
  yield* program(settings).pipe(Effect.provide(Live), Effect.provide(Logger.layer(settings)))
}).pipe(
  Effect.catchAll((error) =>
    Effect.sync(() => {
      // a ServeError (port taken, not allowed) has no message of its own: its cause says why
      const cause = "cause" in error && error.cause instanceof Error ? `: ${error.cause.message}` : ""
      process.stderr.write(`heartbeat: ${error.message === "" ? `${error._tag}${cause}` : error.message}\n`)
      process.exitCode = error._tag === "BadArguments" ? 2 : 1
    })
  ),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
