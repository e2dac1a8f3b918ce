/**
 * `bulwark serve`: `/heartbeat` and `/metrics` (`StatusServer` of
 * @bulwark/telemetry) in a process of its own beside a running worker. It
 * opens the worker's store (`--store`), so the heartbeat shows the queue by
 * state and `/metrics` the jobs-by-state gauge. Breakers live in the worker's
 * memory, so this process has none: embed `StatusServer.layer` in the worker
 * to see them.
 *
 * @since 0.1.0
 */
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as StatusServer from "@bulwark/telemetry/StatusServer"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SharedOptions from "./internal/options.js"
import * as StoreUrl from "./StoreUrl.js"

/**
 * What `bulwark serve` was asked for.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ServeCommandOptions {
  readonly port: number
  readonly host: string
  readonly store: string
}

/**
 * What `bulwark serve` says at startup: its `/heartbeat` cannot see a
 * worker's breakers, and an empty `"breakers"` with status ok must not be
 * read as "every breaker is closed".
 *
 * @since 0.1.0
 * @category Running
 */
export const perProcessNote =
  `note: circuit breakers live in each worker's memory, so this process has none: /heartbeat shows ` +
  `"breakers": {} and status ok whatever a worker's breakers do; embed StatusServer.layer (@bulwark/telemetry) in the worker to serve them`

/**
 * `bulwark serve`: opens the store (it must exist), watches it with a
 * supervisor that runs nothing and never prunes (it is the worker's store),
 * serves until interrupted.
 *
 * @since 0.1.0
 * @category Running
 */
export const run = Effect.fn("ServeCommand.run")(function*(options: ServeCommandOptions) {
  // Parsed before the span is annotated: what a user typed may hold a password, the span shows it redacted.
  const url = yield* StoreUrl.parse(options.store)
  const store = StoreUrl.redact(options.store)
  yield* Effect.annotateCurrentSpan({ port: options.port, host: options.host, store })
  const context = yield* Layer.build(
    StatusServer.layer({ port: options.port, host: options.host }).pipe(
      Layer.provide(Layer.merge(
        CircuitBreakers.layer(),
        JobSupervisor.layer({ types: [], retention: false }).pipe(Layer.provide(StoreUrl.layerExisting(url)))
      ))
    )
  )
  const served = yield* Effect.provide(StatusServer.url, context)
  yield* Console.log(`serving ${served}/heartbeat and ${served}/metrics for the store ${store}`)
  yield* Console.log(perProcessNote)
  yield* Console.log("Ctrl-C to stop")
  return yield* Effect.never
}, Effect.scoped)

/**
 * `bulwark serve …`.
 *
 * @since 0.1.0
 * @category Commands
 */
export const command = Command.make(
  "serve",
  {
    port: SharedOptions.port(
      `The port to listen on (default ${StatusServer.defaultPort}; 0: any free port, printed at start).`,
      StatusServer.defaultPort
    ),
    host: Options.text("host").pipe(
      Options.withPseudoName("HOST"),
      Options.withDescription(
        `The address to listen on (default ${StatusServer.defaultHost}; 0.0.0.0 for every interface).`
      ),
      Options.withDefault(StatusServer.defaultHost)
    ),
    store: SharedOptions.store
  },
  run
).pipe(
  Command.withDescription("Serve /heartbeat and /metrics of a worker's job store until Ctrl-C.")
)
