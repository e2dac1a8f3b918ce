/**
 * No-op jobs through the `JobSupervisor` of `@bulwark/jobs`, on the memory
 * store and on the SQLite store (a temp file): how many jobs per second go
 * from submit to a stored result, how long a job waits from its submit to the
 * start of its handler at a moderate submit rate, and how much heap 100k
 * queued jobs take; with 0 %, 10 % and 50 % of attempts failing and re-queued
 * at once.
 *
 * Played in real time: a store and a supervisor per row, wrapped so that the
 * store calls are counted and timed (where the time goes).
 */
import { JobId } from "@bulwark/jobs/Job"
import * as JobStore from "@bulwark/jobs/JobStore"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as JobType from "@bulwark/jobs/JobType"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { quantile } from "../Harness.js"
import type { Check, Column, Simulation, SimulationRow } from "../Simulation.js"

/** The load. */
export interface Scenario {
  /** Jobs of a throughput run, all submitted at once (16 submitters) while the supervisor runs them. */
  readonly throughputJobs: Readonly<Record<StoreName, number>>
  /** The highest submit rate of a lag run, in jobs/s. */
  readonly lagRatePerSecond: number
  /** A lag run submits at most this share of the throughput its row measured: a moderate load. */
  readonly lagUtilization: number
  /** How long a lag run submits. */
  readonly lagMillis: number
  /** Jobs queued first, to fill the supervisor's bounded caches, before memory is measured. */
  readonly memoryWarmJobs: number
  /** Jobs queued (never claimed) whose heap growth is measured; reported scaled to 100k. */
  readonly memoryJobs: Readonly<Record<StoreName, number>>
  /** Share of attempts that fail (retryable, re-queued with no delay). */
  readonly failureRates: ReadonlyArray<number>
  /** The job type's concurrency: jobs running at once, and so the claim batch. */
  readonly concurrency: number
  /** A run still going after this long fails the benchmark. */
  readonly runTimeoutMillis: number
}

type StoreName = "memory" | "sqlite"

export const scenario: Scenario = {
  throughputJobs: { memory: 10_000, sqlite: 10_000 },
  lagRatePerSecond: 500,
  lagUtilization: 0.25,
  lagMillis: 3_000,
  memoryWarmJobs: 10_000,
  memoryJobs: { memory: 100_000, sqlite: 10_000 },
  failureRates: [0, 0.1, 0.5],
  concurrency: 100,
  runTimeoutMillis: 120_000
}

/** The issue's goal for the SQLite store on the 2-core benchmark machine. */
export const goal = { jobsPerSecond: 5_000, p99LagMs: 10 } as const

class Flaky extends Data.TaggedError("Flaky")<{}> {}

/** How an attempt ends and what it reports; set per run. */
interface Probe {
  readonly failureRate: number
  /** First start of each job, by id (performance.now()). */
  readonly started: Map<string, number>
}

class CurrentProbe extends Context.Tag("bench/jobs/CurrentProbe")<CurrentProbe, Probe>() {}

const Noop = JobType.make({
  name: "noop",
  payload: Schema.Struct({}),
  result: Schema.Null,
  concurrency: scenario.concurrency,
  // Failed attempts are due again at once, and never run out.
  maxAttempts: 1_000,
  base: "0 millis",
  maxDelay: "0 millis",
  jitter: "none",
  retryOn: () => true,
  handler: () =>
    Effect.gen(function*() {
      const probe = yield* CurrentProbe
      const job = yield* JobType.CurrentJob
      if (!probe.started.has(job.id)) probe.started.set(job.id, performance.now())
      if (probe.failureRate > 0 && (yield* Random.next) < probe.failureRate) return yield* new Flaky()
      return null
    })
})

/** Time inside each store operation, and a signal when `target` jobs completed. */
interface Instruments {
  readonly millis: Map<string, number>
  readonly calls: Map<string, number>
  completed: number
  target: number
  readonly done: Deferred.Deferred<void>
}

const instrument = (store: JobStore.Service, instruments: Instruments): JobStore.Service => {
  const timed = <A, E>(operation: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      const start = performance.now()
      return Effect.ensuring(
        effect,
        Effect.sync(() => {
          instruments.millis.set(operation, (instruments.millis.get(operation) ?? 0) + performance.now() - start)
          instruments.calls.set(operation, (instruments.calls.get(operation) ?? 0) + 1)
        })
      )
    })
  return {
    ...store,
    enqueue: (job, options) => timed("enqueue", store.enqueue(job, options)),
    claim: (request) => timed("claim", store.claim(request)),
    heartbeat: (id, token, expiresAt, now) => timed("heartbeat", store.heartbeat(id, token, expiresAt, now)),
    complete: (id, token, result, now) =>
      timed("complete", store.complete(id, token, result, now)).pipe(
        Effect.tap(() => {
          instruments.completed++
          return instruments.completed === instruments.target
            ? Deferred.succeed(instruments.done, undefined)
            : Effect.void
        })
      ),
    fail: (id, token, error, outcome, now) => timed("fail", store.fail(id, token, error, outcome, now)),
    release: (id, token, now, runAt) => timed("release", store.release(id, token, now, runAt))
  }
}

interface StoreUnderTest {
  readonly layer: Layer.Layer<JobStore.JobStore, JobStore.StoreFailure>
  /** Bytes on disk (the database and its WAL), for SQLite. */
  readonly diskBytes: () => number | null
  readonly cleanup: () => void
}

const openStore = (name: StoreName): StoreUnderTest => {
  if (name === "memory") return { layer: JobStore.layerMemory, diskBytes: () => null, cleanup: () => {} }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bulwark-bench-jobs-"))
  const filename = path.join(dir, "jobs.db")
  return {
    layer: JobStore.layerSqlite({ filename }),
    diskBytes: () => fs.readdirSync(dir).reduce((total, file) => total + fs.statSync(path.join(dir, file)).size, 0),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true })
  }
}

const supervisorOptions = { retention: false, metricsInterval: false } as const

/**
 * Runs `use` with a supervisor on a fresh store of kind `name`, instrumented,
 * all jobs of the run expected to complete before it returns.
 */
const withSupervisor = <A>(
  name: StoreName,
  probe: Probe,
  use: (jobs: JobSupervisor.Service, instruments: Instruments) => Effect.Effect<A, unknown>
): Promise<A> => {
  const store = openStore(name)
  const program = Effect.gen(function*() {
    const instruments: Instruments = {
      millis: new Map(),
      calls: new Map(),
      completed: 0,
      target: Infinity,
      done: yield* Deferred.make<void>()
    }
    const storeLayer = Layer.effect(
      JobStore.JobStore,
      Effect.map(JobStore.JobStore, (base) => instrument(base, instruments))
    ).pipe(Layer.provide(store.layer))
    const context = yield* Layer.build(
      JobSupervisor.layer({ types: [Noop], ...supervisorOptions }).pipe(
        Layer.provide(Layer.merge(storeLayer, Layer.succeed(CurrentProbe, probe)))
      )
    )
    return yield* use(Context.get(context, JobSupervisor.JobSupervisor), instruments)
  }).pipe(
    Effect.scoped,
    Effect.timeoutFail({
      duration: scenario.runTimeoutMillis,
      onTimeout: () => new Error(`jobs: a ${name} run took longer than ${scenario.runTimeoutMillis} ms`)
    }),
    Logger.withMinimumLogLevel(LogLevel.None)
  )
  return Effect.runPromise(program).finally(store.cleanup)
}

/** CPU time of this process (user + system), in microseconds, since `since`. */
const cpuMicros = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since)
  return used.user + used.system
}

interface Throughput {
  readonly jobsPerSecond: number
  readonly cpuUsPerJob: number
  readonly attemptsPerJob: number
  /** Share of the wall time spent inside store calls, by operation (the store alone, one call at a time). */
  readonly storeShare: ReadonlyMap<string, number>
  /** Store calls per job, by operation. */
  readonly callsPerJob: ReadonlyMap<string, number>
  /** Mean time of one store call, in ms, by operation: with group commit, its wait for the commit included. */
  readonly callMillis: ReadonlyMap<string, number>
}

export const throughput = (name: StoreName, failureRate: number): Promise<Throughput> => {
  const jobCount = scenario.throughputJobs[name]
  return withSupervisor(name, { failureRate, started: new Map() }, (jobs, instruments) =>
    Effect.gen(function*() {
      instruments.target = jobCount
      const cpu = process.cpuUsage()
      const start = performance.now()
      yield* Effect.forEach(
        Array.from({ length: jobCount }),
        () => jobs.submit(Noop, {}),
        { concurrency: 16, discard: true }
      )
      yield* Deferred.await(instruments.done)
      const elapsed = performance.now() - start
      const cpuUsPerJob = cpuMicros(cpu) / jobCount
      const storeShare = new Map([...instruments.millis].map(([operation, millis]) => [operation, millis / elapsed]))
      const callsPerJob = new Map([...instruments.calls].map(([operation, calls]) => [operation, calls / jobCount]))
      const callMillis = new Map(
        [...instruments.millis].map(([operation, millis]) => [operation, millis / instruments.calls.get(operation)!])
      )
      const attempts = (instruments.calls.get("complete") ?? 0) + (instruments.calls.get("fail") ?? 0)
      return {
        jobsPerSecond: jobCount / (elapsed / 1000),
        cpuUsPerJob,
        attemptsPerJob: attempts / jobCount,
        storeShare,
        callsPerJob,
        callMillis
      }
    }))
}

/** The store alone, no supervisor: enqueue every job (16 at a time), then claim 100 at a time and complete them. */
export const storeOnly = (name: StoreName): Promise<Omit<Throughput, "attemptsPerJob" | "callMillis">> => {
  const jobCount = scenario.throughputJobs[name]
  const store = openStore(name)
  const program = Effect.gen(function*() {
    const context = yield* Layer.build(store.layer)
    const jobStore = Context.get(context, JobStore.JobStore)
    const cpu = process.cpuUsage()
    const start = performance.now()
    // 16 submitters, as in the supervisor rows: the SQLite store commits the writes of one round together.
    yield* Effect.forEach(
      Array.from({ length: jobCount }, (_, i) => i),
      (i) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          jobStore.enqueue({
            id: JobId.make(`job-${i}`),
            type: Noop.name,
            queue: Noop.queue,
            payload: {},
            priority: 0,
            maxAttempts: 1,
            maxRateLimited: 0,
            runAt: 0
          }, { now })),
      { concurrency: 16, discard: true }
    )
    const enqueueMillis = performance.now() - start
    let done = 0
    while (done < jobCount) {
      const claimed = yield* jobStore.claim({
        queues: [{ queue: Noop.queue, limit: scenario.concurrency }],
        owner: "bench",
        now: yield* Clock.currentTimeMillis,
        leaseMillis: 30_000
      })
      const now = yield* Clock.currentTimeMillis
      // Completed at once, as the claimed jobs' fibers would.
      yield* Effect.forEach(claimed, (job) => jobStore.complete(job.id, job.lease!.token, null, now), {
        concurrency: "unbounded",
        discard: true
      })
      done += claimed.length
    }
    const elapsed = performance.now() - start
    return {
      jobsPerSecond: jobCount / (elapsed / 1000),
      cpuUsPerJob: cpuMicros(cpu) / jobCount,
      storeShare: new Map([["enqueue", enqueueMillis / elapsed], ["claim + complete", 1 - enqueueMillis / elapsed]]),
      callsPerJob: new Map()
    }
  }).pipe(Effect.scoped)
  return Effect.runPromise(program).finally(store.cleanup)
}

interface Lag {
  readonly p50LagMs: number
  readonly p99LagMs: number
  readonly ratePerSecond: number
}

/** Submits at a steady `rate` (catching up after late timers) and measures submit → first start. */
export const lag = (name: StoreName, failureRate: number, rate: number): Promise<Lag> => {
  const probe: Probe = { failureRate, started: new Map() }
  const jobCount = Math.max(50, Math.round(rate * scenario.lagMillis / 1000))
  return withSupervisor(name, probe, (jobs, instruments) =>
    Effect.gen(function*() {
      instruments.target = jobCount
      const submitted = new Map<string, number>()
      const start = performance.now()
      let sent = 0
      while (sent < jobCount) {
        const due = Math.min(jobCount, Math.floor((performance.now() - start) * rate / 1000))
        for (; sent < due; sent++) {
          const at = performance.now()
          submitted.set(yield* jobs.submit(Noop, {}), at)
        }
        yield* Effect.sleep("1 millis")
      }
      const elapsed = performance.now() - start
      yield* Deferred.await(instruments.done)
      const lags = [...submitted].map(([id, at]) => probe.started.get(id)! - at)
      return {
        p50LagMs: quantile(lags, 0.5),
        p99LagMs: quantile(lags, 0.99),
        ratePerSecond: jobCount / (elapsed / 1000)
      }
    }))
}

type Gc = () => void

const gc = (globalThis as { gc?: Gc }).gc

/** Collects until the heap settles (with `--expose-gc`); else lets pending work settle. */
const settledHeap = async (): Promise<number> => {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
    gc?.()
  }
  return process.memoryUsage().heapUsed
}

interface Memory {
  readonly mbPer100k: number
  readonly diskMbPer100k: number | null
}

/**
 * Heap (and disk) growth of queued jobs, submitted through a supervisor that
 * runs no type (so none is claimed). The first `memoryWarmJobs` fill the
 * supervisor's bounded caches (the submit spans kept for attempt links, the
 * event hub) and the store's one-time allocations; the growth is measured over
 * the jobs after them.
 */
export const memory = async (name: StoreName): Promise<Memory> => {
  const jobCount = scenario.memoryJobs[name]
  const store = openStore(name)
  const scale = 100_000 / jobCount
  const program = Effect.gen(function*() {
    const context = yield* Layer.build(
      JobSupervisor.layer({ types: [], ...supervisorOptions }).pipe(Layer.provide(store.layer))
    )
    const jobs = Context.get(context, JobSupervisor.JobSupervisor)
    const submit = (count: number) =>
      Effect.forEach(Array.from({ length: count }), () => jobs.submit(Noop, {}), { discard: true })
    yield* submit(scenario.memoryWarmJobs)
    const before = yield* Effect.promise(settledHeap)
    const diskBefore = store.diskBytes()
    yield* submit(jobCount)
    const after = yield* Effect.promise(settledHeap)
    const diskAfter = store.diskBytes()
    return {
      mbPer100k: (after - before) / 1e6 * scale,
      diskMbPer100k: diskAfter === null || diskBefore === null ? null : (diskAfter - diskBefore) / 1e6 * scale
    }
  }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.None))
  return Effect.runPromise(program).finally(store.cleanup)
}

const columns: ReadonlyArray<Column> = [
  { key: "store", label: "store", description: "the JobStore under the supervisor", format: "text" },
  {
    key: "failureRate",
    label: "failing",
    description: "share of attempts that fail and are re-queued with no delay (null: the store alone)",
    format: "percent"
  },
  {
    key: "jobsPerSecond",
    label: "jobs/s",
    description: "jobs from the first submit to the last stored result, per second of wall time",
    format: "integer"
  },
  {
    key: "cpuUsPerJob",
    label: "CPU µs/job",
    description:
      "CPU time of the process (user + system) per job in the throughput run, in µs: what a busy shared machine does not change",
    format: "integer"
  },
  {
    key: "attemptsPerJob",
    label: "attempts/job",
    description: "attempts run per job in the throughput run (1 / (1 − failure rate) expected)",
    format: "ratio"
  },
  {
    key: "p50LagMs",
    label: "lag p50",
    description: "median time from a job's submit to the start of its first attempt at a moderate rate, in ms",
    format: "text"
  },
  {
    key: "p99LagMs",
    label: "lag p99",
    description: "99th percentile of a job's submit → first-start time at a moderate rate, in ms",
    format: "text"
  },
  {
    key: "lagRatePerSecond",
    label: "lag at",
    description: "the submit rate the lag was measured at, in jobs/s (a quarter of the row's throughput, at most 500)",
    format: "integer"
  },
  {
    key: "mbPer100k",
    label: "heap / 100k queued",
    description:
      "JS heap growth per 100k queued jobs, in MB (after forced GCs); measured once per store, in its 0 % row",
    format: "text"
  },
  {
    key: "diskMbPer100k",
    label: "disk / 100k queued",
    description: "growth of the database file and its WAL per 100k queued jobs, in MB (SQLite only)",
    format: "text"
  },
  {
    key: "storeTime",
    label: "store calls",
    description:
      "supervisor rows: store calls per job and the mean time of one call, by operation (a SQLite write's time includes its wait for the group commit of its round, so calls overlap); store-alone rows: the share of the wall time in enqueue and in claim + complete",
    format: "text"
  }
]

const fixed = (value: number, digits: number) => Number(value.toFixed(digits))

const describeShare = (share: ReadonlyMap<string, number>, callsPerJob: ReadonlyMap<string, number>): string =>
  [...share].sort((a, b) => b[1] - a[1]).filter(([, value]) => value >= 0.01).map(([operation, value]) => {
    const calls = callsPerJob.get(operation)
    return `${operation} ${Math.round(value * 100)}%${calls === undefined ? "" : ` (${calls.toFixed(2)}/job)`}`
  }).join(", ")

const describeCalls = (callsPerJob: ReadonlyMap<string, number>, callMillis: ReadonlyMap<string, number>): string =>
  [...callsPerJob].filter(([, calls]) => calls >= 0.005).sort((a, b) => b[1] - a[1]).map(([operation, calls]) =>
    `${operation} ${calls.toFixed(2)}/job × ${(callMillis.get(operation) ?? 0).toFixed(2)} ms`
  ).join(", ")

const play = async (): Promise<ReadonlyArray<SimulationRow>> => {
  const rows: Array<SimulationRow> = []
  for (const store of ["memory", "sqlite"] as const) {
    const alone = await storeOnly(store)
    rows.push({
      name: `${store} store alone`,
      store,
      failureRate: null,
      jobsPerSecond: Math.round(alone.jobsPerSecond),
      cpuUsPerJob: Math.round(alone.cpuUsPerJob),
      attemptsPerJob: 1,
      p50LagMs: null,
      p99LagMs: null,
      lagRatePerSecond: null,
      mbPer100k: null,
      diskMbPer100k: null,
      storeTime: describeShare(alone.storeShare, alone.callsPerJob)
    })
    const memoryOf = await memory(store)
    for (const failureRate of scenario.failureRates) {
      const run = await throughput(store, failureRate)
      const rate = Math.max(10, Math.min(scenario.lagRatePerSecond, run.jobsPerSecond * scenario.lagUtilization))
      const lagged = await lag(store, failureRate, rate)
      rows.push({
        name: `${store}, ${Math.round(failureRate * 100)}% failing`,
        store,
        failureRate,
        jobsPerSecond: Math.round(run.jobsPerSecond),
        cpuUsPerJob: Math.round(run.cpuUsPerJob),
        attemptsPerJob: fixed(run.attemptsPerJob, 3),
        p50LagMs: fixed(lagged.p50LagMs, 2),
        p99LagMs: fixed(lagged.p99LagMs, 2),
        lagRatePerSecond: Math.round(lagged.ratePerSecond),
        mbPer100k: failureRate === 0 ? fixed(memoryOf.mbPer100k, 1) : null,
        diskMbPer100k: failureRate === 0 && memoryOf.diskMbPer100k !== null ? fixed(memoryOf.diskMbPer100k, 1) : null,
        storeTime: describeCalls(run.callsPerJob, run.callMillis)
      })
    }
  }
  return rows
}

const judge = (rows: ReadonlyArray<SimulationRow>): Check => {
  const row = rows.find((row) => row.store === "sqlite" && row.failureRate === 0)!
  const alone = rows.find((row) => row.store === "sqlite" && row.failureRate === null)!
  const jobsPerSecond = row.jobsPerSecond as number
  const p99 = row.p99LagMs as number
  const fast = jobsPerSecond >= goal.jobsPerSecond
  const prompt = p99 <= goal.p99LagMs
  const ok = fast && prompt
  return {
    ok,
    text: `SQLite, no failures: ${jobsPerSecond.toLocaleString("en-US")} jobs/s end to end (goal ≥ ${
      goal.jobsPerSecond.toLocaleString("en-US")
    }), p99 submit → start ${p99} ms at ${row.lagRatePerSecond} jobs/s (goal ≤ ${goal.p99LagMs} ms) — ${
      ok ? "OK" : `NOT MET (throughput ${fast ? "met" : "not met"}, lag ${prompt ? "met" : "not met"})`
    }. ${row.cpuUsPerJob} µs of process CPU per job (GC threads included), of which the store alone takes ${alone.cpuUsPerJob} µs; load average ${
      os.loadavg()[0]!.toFixed(1)
    } on ${os.cpus().length} cores during the run`
  }
}

export const benchmark: Simulation = {
  kind: "simulation",
  name: "jobs",
  title: "no-op jobs through the JobSupervisor: throughput, submit → start lag, memory",
  description: [
    "No-op jobs (empty payload, `null` result) through `JobSupervisor` from `@bulwark/jobs`, on the memory store",
    "and on the SQLite store (a temp file, WAL, `synchronous = NORMAL`), in one process, real time. A job type",
    `of concurrency ${scenario.concurrency} (so claims take up to ${scenario.concurrency} jobs); a failing attempt fails`,
    "with a retryable error and is re-queued due at once (`base` and `maxDelay` 0, no jitter, attempts",
    "unbounded), so a failure rate of 50 % costs two attempts per job on average.",
    "",
    `Throughput: ${scenario.throughputJobs.memory.toLocaleString("en-US")} jobs (memory) or ${
      scenario.throughputJobs.sqlite.toLocaleString("en-US")
    } (SQLite)`,
    "submitted by 16 fibers while the supervisor runs them, timed from the first submit to the last stored result;",
    "the process's CPU time per job is given too, since wall time on a shared machine depends on its other load",
    "(the verdict names the load average). The `store alone` rows are the store without the supervisor: every",
    `job enqueued by 16 fibers, then claimed ${scenario.concurrency} at a time and the claimed jobs completed at once`,
    "(so the SQLite store's group commit applies as under the supervisor).",
    `Lag: jobs submitted for ${scenario.lagMillis / 1000} s at a steady rate, a moderate load of ${
      scenario.lagUtilization * 100
    } % of the row's`,
    `throughput (at most ${scenario.lagRatePerSecond} jobs/s), each timed from just before its \`submit\` to the start`,
    "of its handler's first attempt. Memory: jobs queued through a supervisor that runs no type (so none is",
    `claimed): after ${
      scenario.memoryWarmJobs.toLocaleString("en-US")
    } jobs that fill the supervisor's bounded caches, the heap growth`,
    `of ${scenario.memoryJobs.memory.toLocaleString("en-US")} (memory) or ${
      scenario.memoryJobs.sqlite.toLocaleString("en-US")
    } (SQLite) more, after forced GCs`,
    "(`pnpm bench` runs node with `--expose-gc`; without it, after letting pending work settle), scaled to 100k.",
    "Where the time goes: the `store alone` row's CPU µs/job against the supervisor rows' says how much of a",
    "job's CPU the store takes and how much the supervisor adds (submit, claim loop, one fiber per attempt,",
    "spans, metrics, events, Schema encoding); the last column gives the store calls per job and the mean time",
    "of one call (a SQLite write waits for the commit of its round's writes, one transaction for all of them).",
    "The goal (issue 6) is for SQLite on this 2-core machine, 0 % failing:",
    `≥ ${goal.jobsPerSecond.toLocaleString("en-US")} jobs/s end to end and a p99 submit → start ≤ ${goal.p99LagMs} ms.`,
    "For reference, graphile-worker reports ~15.6k jobs/s unbatched on PostgreSQL on a fast desktop."
  ].join("\n"),
  columns,
  clock: "real",
  run: play,
  verdict: judge
}
