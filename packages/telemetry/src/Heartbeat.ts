/**
 * A /heartbeat of the process: the status of every circuit breaker in the
 * `CircuitBreakers` registry, in seed 003's status-dict shape (`degraded`,
 * `consecutive_failures`, `seconds_until_retry`), and, when a `JobSupervisor`
 * is in context, the job queue by state. Per breaker, seed 004's `get_stats`
 * and `reset` as routes.
 *
 * Degraded is not down: a service behind an open breaker still answers (that
 * is what the breaker is for), so `GET /heartbeat` answers 200 with
 * `"status": "degraded"` unless told to answer 503 (`degradedStatus`).
 *
 * @since 0.1.0
 */
import type * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as Job from "@bulwark/jobs/Job"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as internal from "./internal/heartbeatStatus.js"

/** A property named `key` on the wire (snake_case, as the seeds' dicts), camelCase in TypeScript. */
const wire = <S extends Schema.Schema.Any>(key: string, schema: S) =>
  Schema.propertySignature(schema).pipe(Schema.fromKey(key))

/**
 * A breaker's state, as the seeds print it.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const BreakerState = Schema.Literal("CLOSED", "OPEN", "HALF_OPEN", "ISOLATED")

/**
 * One breaker: seed 003's status dict (`degraded`, `consecutive_failures`,
 * `seconds_until_retry`) with seed 004's `state` and `failure_count`, and the
 * rest of `CircuitBreaker.Stats`. Times are ISO 8601 on the wire, `null` until
 * the first one.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const BreakerStatus = Schema.Struct({
  service: Schema.String,
  state: BreakerState,
  /** Seed 003: true while the breaker does not let every call through (OPEN, HALF_OPEN, ISOLATED). */
  degraded: Schema.Boolean,
  /** Counted failures since the last success. */
  consecutiveFailures: wire("consecutive_failures", Schema.NonNegativeInt),
  /**
   * While OPEN, seconds until the next call may probe, rounded **up** to 0.1
   * (0 once over: the next call probes); `null` in any other state.
   */
  secondsUntilRetry: wire("seconds_until_retry", Schema.NullOr(Schema.NonNegative)),
  /** Seed 004: counted failures since the breaker last closed. */
  failureCount: wire("failure_count", Schema.NonNegativeInt),
  /** Openings since the breaker last closed. */
  openings: Schema.NonNegativeInt,
  probesInFlight: wire("probes_in_flight", Schema.NonNegativeInt),
  probeSuccesses: wire("probe_successes", Schema.NonNegativeInt),
  /** Isolation handles not yet released. */
  isolations: Schema.NonNegativeInt,
  lastFailureTime: wire("last_failure_time", Schema.NullOr(Schema.DateTimeUtc)),
  lastSuccessTime: wire("last_success_time", Schema.NullOr(Schema.DateTimeUtc))
})

/**
 * @since 0.1.0
 * @category Models
 */
export type BreakerStatus = typeof BreakerStatus.Type

/**
 * Jobs per state, every state present.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const JobCounts = Schema.Record({ key: Job.JobState, value: Schema.NonNegativeInt })

/**
 * The job queue: `counts` from `JobSupervisor.counts`, or `error` when the store
 * could not say (then `degraded`).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const JobsStatus = Schema.Struct({
  degraded: Schema.Boolean,
  counts: Schema.NullOr(JobCounts),
  error: Schema.NullOr(Schema.String)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type JobsStatus = typeof JobsStatus.Type

/**
 * The body of `GET /heartbeat`. `status` is `"degraded"` when a breaker or the
 * job store is; `breakers` is keyed by service, in order of creation except
 * that integer-like names (`"2"`, `"10"`) come first, in numeric order, as in
 * any JavaScript object (read `service` names, not positions); `jobs` is
 * `null` without a `JobSupervisor` in context.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const HeartbeatStatus = Schema.Struct({
  status: Schema.Literal("ok", "degraded"),
  checkedAt: wire("checked_at", Schema.DateTimeUtc),
  breakers: Schema.Record({ key: Schema.String, value: BreakerStatus }),
  jobs: Schema.NullOr(JobsStatus)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type HeartbeatStatus = typeof HeartbeatStatus.Type

/**
 * No breaker of that name exists in the registry. The heartbeat never creates
 * one: a typo in a reset URL must not add a breaker to every later heartbeat.
 *
 * @since 0.1.0
 * @category Errors
 */
export class BreakerNotFound extends Schema.TaggedError<BreakerNotFound>()("BreakerNotFound", {
  service: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    const known = this.known.length === 0 ? "none yet" : this.known.join(", ")
    return `No circuit breaker named ${JSON.stringify(this.service)} (known: ${known})`
  }
}

/**
 * The body of a 404 from the breaker routes.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const NotFoundResponse = Schema.Struct({
  error: Schema.Literal("BreakerNotFound"),
  message: Schema.String,
  service: Schema.String,
  known: Schema.Array(Schema.String)
})

/**
 * The wire form of a breaker's stats, from `CircuitBreaker.Stats`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromStats = (stats: CircuitBreaker.Stats): BreakerStatus => internal.fromStats(stats)

const jobs: Effect.Effect<JobsStatus | null> = Effect.flatMap(
  Effect.serviceOption(JobSupervisor.JobSupervisor),
  Option.match({
    onNone: () => Effect.succeed(null),
    onSome: (supervisor) =>
      supervisor.counts.pipe(
        Effect.map((counts): JobsStatus => ({ degraded: false, counts, error: null })),
        Effect.catchAll((failure) =>
          Effect.as(
            Effect.logWarning(`Heartbeat: job counts unavailable: ${failure.message}`),
            { degraded: true, counts: null, error: failure.message }
          )
        )
      )
  })
)

/**
 * The status of every breaker created so far, and of the job queue when a
 * `JobSupervisor` is in context. Never fails: a store that cannot count is
 * reported as degraded, not as a failed heartbeat.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const status: Effect.Effect<HeartbeatStatus, never, CircuitBreakers.CircuitBreakers> = Effect.gen(
  function*() {
    const registry = yield* CircuitBreakers.CircuitBreakers
    const all = yield* registry.stats
    const queue = yield* jobs
    const breakers: Record<string, BreakerStatus> = {}
    for (const stats of all) breakers[stats.service] = fromStats(stats)
    const degraded = all.filter((stats) => internal.isDegraded(stats.state)).map((stats) => stats.service)
    const result: HeartbeatStatus = {
      status: degraded.length > 0 || queue?.degraded === true ? "degraded" : "ok",
      checkedAt: DateTime.unsafeMake(yield* Clock.currentTimeMillis),
      breakers,
      jobs: queue
    }
    yield* Effect.annotateCurrentSpan({
      "bulwark.heartbeat.status": result.status,
      "bulwark.heartbeat.breakers": all.length,
      "bulwark.heartbeat.degraded": degraded.join(",")
    })
    return result
  }
).pipe(Effect.withSpan("Heartbeat.status"))

const find = (service: string) =>
  Effect.flatMap(CircuitBreakers.CircuitBreakers, (registry) =>
    Effect.flatMap(registry.list, (breakers) => {
      const breaker = breakers.find((breaker) => breaker.service === service)
      return breaker === undefined
        ? Effect.fail(new BreakerNotFound({ service, known: breakers.map((breaker) => breaker.service) }))
        : Effect.succeed(breaker)
    }))

/**
 * Seed 004's `get_stats(name)`: one breaker's status. An unknown name fails
 * with `BreakerNotFound`; no breaker is created.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const breaker: (
  service: string
) => Effect.Effect<BreakerStatus, BreakerNotFound, CircuitBreakers.CircuitBreakers> = Effect.fn("Heartbeat.breaker")(
  function*(service: string) {
    yield* Effect.annotateCurrentSpan("bulwark.service", service)
    const found = yield* find(service)
    const stats = yield* found.stats
    yield* Effect.annotateCurrentSpan("bulwark.circuit.state", stats.state)
    return fromStats(stats)
  }
)

/**
 * Seed 004's `reset(name)`: forces the breaker CLOSED with clean counters
 * (`CircuitBreaker.reset`; outstanding isolation handles stop counting) and
 * returns its status after. An unknown name fails with `BreakerNotFound`.
 *
 * @since 0.1.0
 * @category Operations
 */
export const reset: (
  service: string
) => Effect.Effect<BreakerStatus, BreakerNotFound, CircuitBreakers.CircuitBreakers> = Effect.fn("Heartbeat.reset")(
  function*(service: string) {
    yield* Effect.annotateCurrentSpan("bulwark.service", service)
    const found = yield* find(service)
    const before = yield* found.stats
    yield* found.reset
    yield* Effect.logInfo(
      `Circuit breaker for ${service}: reset by request (was ${before.state}, failures: ${before.consecutiveFailures})`
    ).pipe(Effect.annotateLogs({ service, from: before.state, reason: "reset" }))
    yield* Effect.annotateCurrentSpan("bulwark.circuit.from", before.state)
    return fromStats(yield* found.stats)
  }
)

/**
 * @since 0.1.0
 * @category Options
 */
export interface RouterOptions {
  /**
   * Status of `GET /heartbeat` while degraded. Default 200: the process is up
   * and serving what it can, so a liveness probe must not restart it for an
   * outage it cannot fix. 503 suits a readiness probe that should route
   * traffic elsewhere meanwhile.
   */
  readonly degradedStatus?: 200 | 503 | undefined
}

const noStore = { "cache-control": "no-store" }

const encodeHeartbeat = HttpServerResponse.schemaJson(HeartbeatStatus)
const encodeBreaker = HttpServerResponse.schemaJson(BreakerStatus)
const encodeNotFound = HttpServerResponse.schemaJson(NotFoundResponse)

const notFound = (error: BreakerNotFound) =>
  encodeNotFound(
    { error: "BreakerNotFound", message: error.message, service: error.service, known: error.known },
    { status: 404, headers: noStore }
  )

const byName = (
  operation: (service: string) => Effect.Effect<BreakerStatus, BreakerNotFound, CircuitBreakers.CircuitBreakers>
) =>
  Effect.flatMap(HttpRouter.params, ({ name }) =>
    operation(name ?? "").pipe(
      Effect.flatMap((status) => encodeBreaker(status, { headers: noStore })),
      Effect.catchTag("BreakerNotFound", notFound),
      // Our own schema encoding our own values: a failure here is a bug, not a request error.
      Effect.orDie
    ))

/**
 * The routes, with options:
 *
 * - `GET /heartbeat`: {@link HeartbeatStatus}; 200, or `degradedStatus` while degraded
 * - `GET /breakers/:name`: {@link BreakerStatus} (seed 004's `get_stats`)
 * - `POST /breakers/:name/reset`: {@link BreakerStatus} after the reset
 * - an unknown breaker: 404 {@link NotFoundResponse}
 *
 * Mount it under a prefix with `HttpRouter.mount`.
 *
 * @since 0.1.0
 * @category Routers
 */
export const makeRouter = (
  options: RouterOptions = {}
): HttpRouter.HttpRouter<never, CircuitBreakers.CircuitBreakers> => {
  const degradedStatus = options.degradedStatus ?? 200
  return HttpRouter.empty.pipe(
    HttpRouter.get(
      "/heartbeat",
      Effect.flatMap(
        status,
        (body) => encodeHeartbeat(body, { status: body.status === "ok" ? 200 : degradedStatus, headers: noStore })
      ).pipe(
        Effect.orDie
      )
    ),
    HttpRouter.get("/breakers/:name", byName(breaker)),
    HttpRouter.post("/breakers/:name/reset", byName(reset))
  )
}

/**
 * {@link makeRouter} with the defaults: `GET /heartbeat` answers 200 even when
 * degraded, with `"status": "degraded"` in the body.
 *
 * @since 0.1.0
 * @category Routers
 */
export const router: HttpRouter.HttpRouter<never, CircuitBreakers.CircuitBreakers> = makeRouter()
