/**
 * The example as one effect: serve, run the load, show the final heartbeat,
 * and keep serving if asked.
 */
import { Heartbeat } from "@bulwark/telemetry"
import { Duration, Effect, Schema } from "effect"
import * as Load from "./Load.js"
import * as Service from "./Service.js"
import type { Settings } from "./Settings.js"

export const program = (settings: Settings) =>
  Effect.gen(function*() {
    const { upstreams, url } = yield* Service.serve(settings)
    for (const upstream of upstreams) {
      yield* Effect.log(`upstream ${upstream.name}: ${upstream.url} (${upstream.model})`)
    }
    yield* Effect.log(
      `heartbeat example on ${url}: GET /summary?topic=…, GET /heartbeat, GET /breakers/:name, ` +
        `POST /breakers/:name/reset, GET /metrics`
    )
    if (Duration.toMillis(settings.loadDuration) > 0) {
      const report = yield* Load.run({ url, duration: settings.loadDuration, interval: settings.loadInterval })
      yield* Effect.log(`load done: ${Load.format(report)}`)
      const status = yield* Schema.encode(Heartbeat.HeartbeatStatus)(yield* Heartbeat.status)
      yield* Effect.log(`final heartbeat: ${JSON.stringify(status, null, 2)}`)
    }
    if (settings.serve) {
      yield* Effect.log(`serving on ${url} until interrupted (Ctrl-C)`)
      return yield* Effect.never
    }
  }).pipe(Effect.scoped)
