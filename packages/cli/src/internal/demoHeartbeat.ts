/**
 * The heartbeat's side of the show: a probe of the upstream (an Ollama
 * server's `/api/version`) every few hundred milliseconds, through the
 * upstream's own breaker from the `CircuitBreakers` registry. During the
 * upstream's storm the breaker opens, lets a probe through when its open
 * time is over (half-open), and closes once probes succeed again.
 *
 * Private to the package (it lives in internal/); not tagged `@internal`, because the
 * tests type-check against the declarations, which `stripInternal` would strip it from.
 */
import * as Ollama from "@bulwark/clients/Ollama"
import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { Monitor } from "./demoMonitor.js"

/**
 * The upstream's name in the registry, the logs and the summary.
 *
 * @since 0.1.0
 * @category Demo
 */
export const upstream = "ollama"

/**
 * A registry whose `ollama` breaker opens after 3 failed probes, for `openMillis`.
 *
 * @since 0.1.0
 * @category Demo
 */
export const registry = (openMillis: number) =>
  CircuitBreakers.make({
    byName: {
      [upstream]: {
        trip: CircuitBreaker.consecutiveFailures(3),
        openDuration: Duration.millis(openMillis),
        successThreshold: 2,
        halfOpenRetryAfter: Duration.millis(openMillis)
      }
    }
  })

/**
 * Probes every `everyMillis` until interrupted, counting what happened. One
 * call per probe: no retry (the next probe is the retry), a short timeout.
 *
 * @since 0.1.0
 * @category Demo
 */
export const probe = (
  breakers: CircuitBreakers.CircuitBreakers.Service,
  baseUrl: string,
  everyMillis: number,
  monitor: Monitor
) =>
  Effect.gen(function*() {
    const ollama = yield* Ollama.make({
      baseUrl,
      policy: { retry: false, attemptTimeout: Duration.millis(Math.max(250, 5 * everyMillis)) }
    }).pipe(Effect.provide(FetchHttpClient.layer))
    const once = ollama.version.pipe(
      breakers.protect(upstream),
      Effect.match({
        onFailure: (error) => {
          if (error._tag === "CircuitOpen") monitor.counters.probesRefused++
          else monitor.counters.probesFailed++
        },
        onSuccess: () => {
          monitor.counters.probesOk++
        }
      })
    )
    return yield* Effect.repeat(once, Schedule.spaced(Duration.millis(everyMillis)))
  })
