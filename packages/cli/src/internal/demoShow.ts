/**
 * The demo's show: the store, the emulators, the workers and their
 * monitor, the view, the heartbeat, the jobs, and the summary of it all.
 *
 * Private to the package (it lives in internal/); not tagged `@internal`, because the
 * tests type-check against the declarations, which `stripInternal` would strip it from.
 */
import * as CircuitBreakers from "@bulwark/core/CircuitBreakers"
import * as JobStore from "@bulwark/jobs/JobStore"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as HeartbeatService from "@bulwark/telemetry/Heartbeat"
import * as StatusServer from "@bulwark/telemetry/StatusServer"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createLogUpdate } from "log-update"
import type { DemoSummary, View } from "../Demo.js"
import * as Heartbeat from "./demoHeartbeat.js"
import * as Monitor from "./demoMonitor.js"
import * as Servers from "./demoServers.js"
import * as DemoView from "./demoView.js"
import * as Workflow from "./demoWorkflow.js"
import * as Report from "./report.js"

/**
 * The checked options of a run.
 *
 * @since 0.1.0
 * @category Demo
 */
export interface Settings {
  readonly jobs: number
  readonly seed: number
  readonly store: string
  readonly filename: string
  readonly view: View
  readonly workers: number
  readonly serviceMillis: number
  readonly timeoutMillis: number
  /** Tokens per section. */
  readonly maxTokens: number
}

/**
 * Why the show stopped; `Demo.run` reports it as a `DemoFailed`.
 *
 * @since 0.1.0
 * @category Demo
 */
export class ShowFailed extends Data.TaggedError("ShowFailed")<{ readonly reason: string }> {}

const sleepMillis = (millis: number) => Effect.sleep(Duration.millis(Math.max(0, millis)))

const decodeHeartbeat = Schema.decodeUnknown(HeartbeatService.HeartbeatStatus)

/** `GET /heartbeat` over HTTP, as a load balancer or a person would ask it. */
const fetchHeartbeat = (url: string) =>
  Effect.tryPromise({
    try: (signal) =>
      fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(2_000)]) }).then((response) => response.json()),
    catch: (error) => Report.describe(error)
  }).pipe(Effect.flatMap((body) => Effect.mapError(decodeHeartbeat(body), (error) => error.message)))

/**
 * The show itself, in the caller's scope: what `Demo.run` runs once the
 * options are checked and the store file is fresh.
 *
 * @since 0.1.0
 * @category Demo
 */
export const show = (config: Settings): Effect.Effect<DemoSummary, ShowFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const timing: Workflow.Timing = { serviceMillis: config.serviceMillis }
    const plan = Servers.schedule(timing, config.jobs)
    const failed = (reason: string) => new ShowFailed({ reason })
    // The store first: opening it (and migrating) must not eat into the emulators' timelines.
    const store = yield* Layer.build(JobStore.layerSqlite({ filename: config.filename })).pipe(
      Effect.mapError((error) => failed(`cannot open the store ${config.filename}: ${error.message}`))
    )
    const clock = yield* Effect.clock
    // Plain lines are written as they happen, in order, from whichever fiber saw the event.
    const console = yield* Console.consoleWith(Effect.succeed)
    const monitor = Monitor.make(clock, config.view === "plain" ? (line) => console.unsafe.log(line) : () => {})

    const servers = yield* Effect.mapError(
      Servers.start(timing, config.jobs, config.seed),
      (error) => failed(`could not start the emulators: ${error.message}`)
    )
    const breakers = yield* Effect.orDie(Heartbeat.registry(plan.breakerOpen))
    const follow = <A>(stream: Stream.Stream<A>, f: (a: A) => void) =>
      Effect.forkScoped(Stream.runForEach(stream, (a) => Effect.sync(() => f(a))))
    yield* follow(yield* breakers.subscribe, (change) => monitor.onBreaker(change.service, change))
    const type = Workflow.composeJob(timing, Math.ceil(config.jobs / config.workers))
    for (let i = 1; i <= config.workers; i++) {
      const name = `worker-${i}`
      const { orpheus, supervisor } = yield* Workflow.makeWorker({
        name,
        urls: servers.urls,
        type,
        timing,
        hooks: monitor.hooks
      }).pipe(Effect.provide(store), Effect.orDie)
      yield* follow(yield* supervisor.subscribe, (event) => monitor.onJobEvent(name, event))
      for (const model of Workflow.models) {
        const breaker = orpheus.clients[model].policy.layers.circuitBreaker
        if (breaker !== undefined) {
          yield* follow(yield* breaker.subscribe, (change) => monitor.onBreaker(`${change.service}@${name}`, change))
        }
      }
    }
    const tools = yield* JobSupervisor.make({ types: [], pollInterval: "100 millis", retention: false }).pipe(
      Effect.provide(store),
      Effect.orDie
    )

    // The heartbeat service of the show: the registry's breakers and the store's queue, on a free port.
    const heartbeatContext = Context.make(CircuitBreakers.CircuitBreakers, breakers).pipe(
      Context.add(JobSupervisor.JobSupervisor, tools)
    )
    const status = yield* Layer.build(
      StatusServer.layer({ port: 0 }).pipe(Layer.provide(Layer.succeedContext(heartbeatContext)))
    ).pipe(Effect.mapError((error) => failed(`could not serve the heartbeat: ${Report.describe(error)}`)))
    const heartbeatUrl = `${yield* Effect.provide(StatusServer.url, status)}/heartbeat`
    const watcher = yield* Effect.forkScoped(
      HeartbeatService.status.pipe(
        Effect.flatMap((status) => Effect.sync(() => monitor.onHeartbeat(status))),
        Effect.provide(heartbeatContext),
        // One span per look would drown the show's traces.
        Effect.withTracerEnabled(false),
        Effect.repeat(Schedule.spaced(Duration.millis(plan.probeEvery)))
      )
    )

    const header = {
      jobs: config.jobs,
      workers: config.workers,
      seed: config.seed,
      store: config.store,
      heartbeat: heartbeatUrl
    }
    const gpus = Effect.forEach(Workflow.models, (model) =>
      Effect.zipWith(
        servers.orpheus[model].stats,
        servers.orpheus[model].gpu,
        (stats, gpu) => ({ stats, inUse: gpu.inUse })
      ))
    if (config.view === "live") {
      const update = createLogUpdate(process.stdout)
      const render = Effect.flatMap(gpus, (stats) => Effect.sync(() => update(DemoView.frame(header, monitor, stats))))
      const renderer = yield* Effect.forkScoped(Effect.repeat(render, Schedule.spaced("100 millis")))
      yield* Effect.addFinalizer(() =>
        Fiber.interrupt(renderer).pipe(Effect.zipRight(render), Effect.zipRight(Effect.sync(() => update.done())))
      )
    }
    const upstream = yield* Effect.mapError(
      Servers.upstream(timing, config.jobs, config.seed),
      (error) => failed(`could not start the emulators: ${error.message}`)
    )
    const stormStart = monitor.elapsed()
    const probes = yield* Effect.forkScoped(
      Heartbeat.probe(breakers, upstream.url, plan.probeEvery, monitor).pipe(Effect.orDie)
    )

    monitor.line(
      `bulwark demo: ${config.jobs} fanfare jobs (generate → continue → bridge → loops) on ${config.workers} workers, ` +
        `store ${config.store}; Orpheus base/bridge/loops emulated with a GPU of capacity 1 each; ` +
        `orpheus-bridge flaky from ${(plan.flaky.from / 1000).toFixed(1)}s to ${(plan.flaky.to / 1000).toFixed(1)}s; ` +
        `${Heartbeat.upstream} storm from ${((stormStart + plan.storm.from) / 1000).toFixed(1)}s to ${
          ((stormStart + plan.storm.to) / 1000).toFixed(1)
        }s; heartbeat at ${heartbeatUrl}`
    )
    // Runs first when the scope closes, done or interrupted (Ctrl-C): what the workers still
    // report while they stop is no news, and must not print after the summary or the prompt.
    yield* Effect.addFinalizer(() => Effect.sync(() => monitor.mute()))
    const deadline = monitor.startedAt + config.timeoutMillis
    const remaining = Effect.map(Clock.currentTimeMillis, (now) => Duration.millis(Math.max(0, deadline - now)))
    const ids: Array<string> = []
    const submittedAt = yield* Clock.currentTimeMillis
    for (let i = 1; i <= config.jobs; i++) {
      const id = yield* tools.submit(type, { title: `Victory fanfare no. ${i}`, maxTokens: config.maxTokens }).pipe(
        Effect.mapError((error) => failed(`could not submit a job: ${error.message}`))
      )
      monitor.register(id)
      ids.push(id)
    }
    monitor.line(`submitted ${config.jobs} jobs`)

    const allFinal = Effect.forEach(ids, (id) => Effect.either(tools.wait(type, id as never)), {
      concurrency: "unbounded",
      discard: true
    })
    const finished = yield* Effect.timeoutOption(allFinal, yield* remaining)
    const endedAt = yield* Clock.currentTimeMillis
    if (finished._tag === "None") {
      const open = [...monitor.jobs.values()].filter((view) => view.phase !== "succeeded" && view.phase !== "failed")
      return yield* failed(
        `did not finish within ${Duration.format(Duration.millis(config.timeoutMillis))}: ` +
          `${open.length} of ${config.jobs} jobs not done`
      )
    }
    // The heartbeat's story ends when its storm is over and its breaker closed again.
    const settled = Effect.gen(function*() {
      while (true) {
        const breaker = yield* breakers.get(Heartbeat.upstream)
        const stats = yield* breaker.stats
        if (monitor.elapsed() > stormStart + plan.storm.to && stats.state === "CLOSED") return
        yield* sleepMillis(plan.probeEvery)
      }
    }).pipe(Effect.orDie)
    yield* Effect.timeoutOption(settled, yield* remaining)
    yield* Fiber.interrupt(probes)
    yield* Fiber.interrupt(watcher)
    const lastHeartbeat = yield* Effect.either(fetchHeartbeat(heartbeatUrl))
    const endedAtHeartbeat = yield* Clock.currentTimeMillis
    monitor.line("done")

    const records = yield* Effect.forEach(ids, (id) => Effect.either(tools.status(id as never)))
    const gpuStats = yield* gpus
    const failedJobs: Array<DemoSummary["failed"][number]> = []
    let failedByBusy = 0
    records.forEach((record, i) => {
      const view = monitor.jobs.get(ids[i]!)
      if (record._tag === "Right" && record.right.state === "succeeded") return
      const last = record._tag === "Right" ? record.right.errors.at(-1) : undefined
      if (last?.tag === "GpuBusy") failedByBusy++
      failedJobs.push({
        index: view?.index ?? i + 1,
        id: ids[i]!,
        error: record._tag === "Left"
          ? record.left.message
          : last === undefined
          ? `still ${record.right.state}`
          : `${last.tag}: ${last.message}`
      })
    })
    const limitMillis = Math.max(0, ...gpuStats.map(({ stats }) => stats.busyMillis))
    return {
      jobs: config.jobs,
      succeeded: config.jobs - failedJobs.length,
      failed: failedJobs,
      attempts: monitor.counters.attempts,
      gpuBusyWaits: monitor.counters.busy,
      jobsFailedByBusyGpu: failedByBusy,
      requeues: { backoff: monitor.counters.requeuesBackoff, retryAfter: monitor.counters.requeuesRetryAfter },
      breakerTransitions: monitor.transitions.map((transition) => ({
        breaker: transition.breaker,
        from: transition.from,
        to: transition.to,
        reason: transition.reason,
        atMillis: transition.at - monitor.startedAt
      })),
      gpus: gpuStats.map(({ stats }) => ({
        service: stats.service,
        requests: stats.requests,
        busyAnswers: stats.rejections["429"] ?? 0,
        busyMillis: stats.busyMillis,
        utilization: stats.utilization
      })),
      elapsedMillis: endedAt - submittedAt,
      limitMillis,
      heartbeat: {
        url: heartbeatUrl,
        status: lastHeartbeat._tag === "Right" ? lastHeartbeat.right.status : "unreachable",
        breakers: lastHeartbeat._tag === "Right"
          ? Object.values(lastHeartbeat.right.breakers).map(Monitor.breakerText)
          : [],
        degradedMillis: monitor.heartbeat.degradedMillis +
          (monitor.heartbeat.degradedSince === undefined ? 0 : endedAtHeartbeat - monitor.heartbeat.degradedSince),
        error: lastHeartbeat._tag === "Left" ? lastHeartbeat.left : undefined
      },
      store: config.store,
      seed: config.seed
    } satisfies DemoSummary
  })
