import * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as Errors from "@bulwark/core/Errors"
import { describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  ConfigProvider,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Schedule,
  Stream,
  TestClock
} from "effect"

const serverError = new Errors.ServerError({ status: 500 })

const failing = (breakers: CircuitBreakers.CircuitBreakers.Service, service: string, n: number) =>
  Effect.forEach(
    Array.from({ length: n }),
    () => Effect.exit(Effect.fail(serverError).pipe(breakers.protect(service))),
    { discard: true }
  )

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))

describe("CircuitBreakers", () => {
  it.effect("one breaker per service, created once on first use, even by concurrent callers", () =>
    Effect.gen(function*() {
      const breakers = yield* CircuitBreakers.make()
      expect(yield* breakers.list).toEqual([])
      const [a, b, c] = yield* Effect.all(
        [breakers.get("claude_api"), breakers.get("claude_api"), breakers.get("agent_http")],
        { concurrency: "unbounded" }
      )
      expect(a).toBe(b)
      expect(a).not.toBe(c)
      expect((yield* breakers.list).map((breaker) => breaker.service)).toEqual(["claude_api", "agent_http"])
    }))

  it.effect("per-name options over the defaults; services trip independently (seed 004)", () =>
    Effect.gen(function*() {
      const breakers = yield* CircuitBreakers.make({
        defaults: { openDuration: "30 seconds" },
        byName: { claude_api: { trip: CircuitBreaker.consecutiveFailures(3) } }
      })
      yield* failing(breakers, "claude_api", 3)
      yield* failing(breakers, "agent_http", 3)
      const stats = yield* breakers.stats
      expect(stats.map(({ secondsUntilRetry, service, state }) => ({ service, state, secondsUntilRetry }))).toEqual([
        { service: "claude_api", state: "OPEN", secondsUntilRetry: 30 },
        { service: "agent_http", state: "CLOSED", secondsUntilRetry: undefined }
      ])
      const refused = yield* Effect.exit(Effect.succeed(1).pipe(breakers.protect("claude_api")))
      expect(refused).toEqual(
        Exit.fail(
          new CircuitBreaker.CircuitOpen({ service: "claude_api", state: "OPEN", retryAfter: Duration.seconds(30) })
        )
      )
    }))

  it.effect("bad options fail the registry up front, naming the entry", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(
        CircuitBreakers.make({ byName: { claude_api: { maxProbes: 0 } } })
      )
      const error = Either.flip(result).pipe(Either.getOrThrow)
      expect(error).toMatchObject({ _tag: "InvalidPolicy", field: "byName.claude_api.maxProbes" })
      const defaults = yield* Effect.either(CircuitBreakers.make({ defaults: { successThreshold: -1 } }))
      expect(Either.flip(defaults).pipe(Either.getOrThrow)).toMatchObject({ field: "defaults.successThreshold" })
    }))

  it.effect("a schedule that ends at once fails make, layer and layerConfig up front, naming the entry", () =>
    Effect.gen(function*() {
      const fieldOf = <A, R>(effect: Effect.Effect<A, unknown, R>) =>
        Effect.map(Effect.flip(effect), (error) => (error as Errors.InvalidPolicy).field)
      const stop = { openDuration: Schedule.stop }
      expect(yield* fieldOf(CircuitBreakers.make({ byName: { x: stop } }))).toBe("byName.x.openDuration")
      expect(yield* fieldOf(CircuitBreakers.make({ defaults: stop }))).toBe("defaults.openDuration")
      expect(yield* fieldOf(Layer.build(CircuitBreakers.layer({ byName: { x: stop } })).pipe(Effect.scoped)))
        .toBe("byName.x.openDuration")
      expect(
        yield* fieldOf(
          Layer.build(CircuitBreakers.layerConfig({ byName: { x: stop } })).pipe(Effect.scoped, withEnv({}))
        )
      ).toBe("byName.x.openDuration")
    }))

  it.effect("an empty service name is a typed InvalidPolicy from get and protect, not a defect", () =>
    Effect.gen(function*() {
      const breakers = yield* CircuitBreakers.make()
      const got = yield* Effect.flip(breakers.get(""))
      expect(got).toBeInstanceOf(Errors.InvalidPolicy)
      expect(got).toMatchObject({ policy: "circuit-breaker", field: "service" })
      const call = yield* Effect.flip(Effect.succeed(1).pipe(breakers.protect("")))
      expect(call).toMatchObject({ _tag: "InvalidPolicy", field: "service" })
      expect(yield* breakers.list).toEqual([])
    }))

  it.scoped("the changes of every breaker in one stream", () =>
    Effect.gen(function*() {
      const breakers = yield* CircuitBreakers.make({ defaults: { trip: CircuitBreaker.consecutiveFailures(1) } })
      const changes = yield* breakers.subscribe
      const seen = yield* Effect.fork(Stream.runCollect(Stream.take(changes, 2)))
      yield* failing(breakers, "claude_api", 1)
      yield* failing(breakers, "agent_http", 1)
      const collected = Chunk.toReadonlyArray(yield* Fiber.join(seen))
      expect(collected.map(({ service, to }) => `${service} ${to}`)).toEqual(["claude_api OPEN", "agent_http OPEN"])
    }))

  it.effect("a snapshot of the registry restores every breaker at once", () =>
    Effect.gen(function*() {
      const before = yield* CircuitBreakers.make()
      yield* failing(before, "claude_api", 5)
      yield* failing(before, "agent_http", 2)
      const saved = yield* before.snapshot
      yield* TestClock.adjust("20 seconds")
      const after = yield* CircuitBreakers.make({ restore: saved })
      const stats = yield* after.stats
      expect(stats.map(({ consecutiveFailures, secondsUntilRetry, service, state }) => ({
        service,
        state,
        consecutiveFailures,
        secondsUntilRetry
      }))).toEqual([
        { service: "claude_api", state: "OPEN", consecutiveFailures: 5, secondsUntilRetry: 40 },
        { service: "agent_http", state: "CLOSED", consecutiveFailures: 2, secondsUntilRetry: undefined }
      ])
    }))

  it.effect("as a Layer", () =>
    Effect.gen(function*() {
      const breakers = yield* CircuitBreakers.CircuitBreakers
      const breaker = yield* breakers.get("claude_api")
      expect(breaker.settings.successThreshold).toBe(5)
    }).pipe(Effect.provide(CircuitBreakers.layer({ defaults: { successThreshold: 5 } }))))

  describe("layerConfig", () => {
    const settingsOf = (service: string) =>
      Effect.flatMap(
        CircuitBreakers.CircuitBreakers,
        (breakers) => Effect.map(breakers.get(service), (breaker) => breaker.settings)
      )

    it.effect("reads CIRCUIT_DEFAULT_* for every breaker and CIRCUIT_<NAME>_* for named ones", () =>
      Effect.gen(function*() {
        const layer = CircuitBreakers.layerConfig({
          names: ["claude_api"],
          defaults: { successThreshold: 3 },
          byName: { "agent-http": { maxProbes: 2 } }
        })
        const [claude, agent, other] = yield* Effect.all([
          settingsOf("claude_api"),
          settingsOf("agent-http"),
          settingsOf("orpheus")
        ]).pipe(
          Effect.provide(layer),
          withEnv({
            CIRCUIT_DEFAULT_OPEN_DURATION: "2 minutes",
            CIRCUIT_CLAUDE_API_FAILURE_THRESHOLD: "3",
            CIRCUIT_CLAUDE_API_OPEN_DURATION: "30 seconds",
            CIRCUIT_AGENT_HTTP_MAX_PROBES: "4"
          })
        )
        expect(claude).toMatchObject({
          trip: [{ _tag: "ConsecutiveFailures", threshold: 3 }],
          openDuration: 30_000,
          successThreshold: 3
        })
        expect(agent).toMatchObject({ openDuration: 120_000, maxProbes: 4, successThreshold: 3 })
        expect(other).toMatchObject({ openDuration: 120_000, maxProbes: 1, successThreshold: 3 })
      }))

    it.effect.each(
      [
        [{ CIRCUIT_CLAUDE_API_FAILURE_THRESHOLD: "0" }, "CIRCUIT.CLAUDE_API.FAILURE_THRESHOLD"],
        [{ CIRCUIT_CLAUDE_API_FAILURE_THRESHOLD: "lots" }, "CIRCUIT.CLAUDE_API.FAILURE_THRESHOLD"],
        [{ CIRCUIT_DEFAULT_OPEN_DURATION: "-1 seconds" }, "CIRCUIT.DEFAULT.OPEN_DURATION"],
        // Each layer's trip stands alone: a window variable needs a ratio variable beside it.
        [
          { CIRCUIT_CLAUDE_API_FAILURE_RATIO: "0.5", CIRCUIT_DEFAULT_MINIMUM_CALLS: "50" },
          "CIRCUIT.DEFAULT.MINIMUM_CALLS"
        ],
        [
          { CIRCUIT_DEFAULT_FAILURE_RATIO: "0.5", CIRCUIT_DEFAULT_MINIMUM_CALLS: "500" },
          "CIRCUIT.DEFAULT.MINIMUM_CALLS"
        ]
      ] as const
    )("%j fails with a ConfigError naming %s", ([env, path]) =>
      Effect.gen(function*() {
        const result = yield* Effect.either(
          Layer.build(CircuitBreakers.layerConfig({ names: ["claude_api"] })).pipe(Effect.scoped, withEnv(env))
        )
        expect(String(Either.flip(result).pipe(Either.getOrThrow))).toContain(path)
      }))
  })

  it("envName", () => {
    expect(CircuitBreakers.envName("claude_api")).toBe("CLAUDE_API")
    expect(CircuitBreakers.envName("agent-http.v2")).toBe("AGENT_HTTP_V2")
  })
})
