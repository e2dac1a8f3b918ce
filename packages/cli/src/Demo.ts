/**
 * The demo as a library: everything `bulwark demo` runs, in-process.
 *
 * Three Orpheus model servers (emulated, each a GPU of capacity 1 that
 * answers "429 GPU busy" while it works), a heartbeat upstream (an
 * emulated Ollama server with a storm of 503s) and the heartbeat service
 * (`/heartbeat` and `/metrics` of the demo's breakers and job queue) start on
 * 127.0.0.1. Two
 * workers share a fresh SQLite job store and run seed 000's composition —
 * generate → continue → bridge → loops, each a durable workflow step whose
 * call carries `client_job_id` = the job's id — for every job submitted.
 * Each worker queues its own calls to a GPU (one at a time), so GPU-busy
 * answers come from the other worker and are waited out as the server's
 * Retry-After says, without using an attempt; the bridge server flakes for
 * a while, so some jobs are re-queued with backoff and resume after their
 * stored steps; the heartbeat's breaker opens, half-opens and closes.
 *
 * `run` shows it (a live view or plain lines), prints the summary table and
 * succeeds with the {@link DemoSummary} only if every job succeeded.
 *
 * @since 0.1.0
 */
import type * as CircuitBreaker from "@bulwark/core/CircuitBreaker"
import type { InvalidPolicy } from "@bulwark/core/Errors"
import * as JobStore from "@bulwark/jobs/JobStore"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Show from "./internal/demoShow.js"
import * as DemoView from "./internal/demoView.js"
import * as Workflow from "./internal/demoWorkflow.js"
import * as StoreUrl from "./StoreUrl.js"

/**
 * How the demo shows itself: `live` re-renders one view in place (for a
 * terminal), `plain` prints one line per event (pipes and CI), `none` prints
 * only the summary table.
 *
 * @since 0.1.0
 * @category Models
 */
export type View = "live" | "plain" | "none"

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Compositions to run, 1–100. Default 10. */
  readonly jobs?: number | undefined
  /** Seeds the emulators' outputs, service times and faults, and every jitter. Default 1. */
  readonly seed?: number | undefined
  /** The job store, fresh for every run: `sqlite:path`. Default `sqlite:.bulwark/demo.db`. */
  readonly store?: string | undefined
  /** Default `"plain"`. */
  readonly view?: View | undefined
  /** Workers sharing the store and the GPUs, 1–8. Default 2. */
  readonly workers?: number | undefined
  /**
   * The mean GPU time of one orpheus-base call, from 5 ms to 5 s: every
   * other time of the show (storm, backoffs, probes) is a multiple of it.
   * Default 300 ms up to 10 jobs, shorter above (3 s / jobs, at least 20 ms),
   * so the show lasts about 8 seconds whatever the number of jobs.
   */
  readonly serviceTime?: Duration.DurationInput | undefined
  /** The run fails with {@link DemoFailed} past this. Default 50 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  jobs: 10,
  seed: 1,
  store: "sqlite:.bulwark/demo.db",
  view: "plain",
  workers: 2,
  timeout: "50 seconds",
  /** Tokens per section. */
  maxTokens: 128
} as const

/**
 * What a run did, as the summary table shows it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface DemoSummary {
  readonly jobs: number
  readonly succeeded: number
  /** The jobs that did not succeed, with their last error. */
  readonly failed: ReadonlyArray<{ readonly index: number; readonly id: string; readonly error: string }>
  /** Attempts started, GPU-busy and released ones included. */
  readonly attempts: number
  /** 429 answers of the GPUs that the workers waited out. */
  readonly gpuBusyWaits: number
  /** Jobs whose failure was a GPU that stayed busy (the seed's "GPU busy, retry after 5s"). */
  readonly jobsFailedByBusyGpu: number
  readonly requeues: {
    /** After a failed attempt, with the job type's backoff. */
    readonly backoff: number
    /** After a Retry-After hint, the attempt not counted. */
    readonly retryAfter: number
  }
  readonly breakerTransitions: ReadonlyArray<{
    readonly breaker: string
    readonly from: CircuitBreaker.State
    readonly to: CircuitBreaker.State
    readonly reason: string
    /** Since the start of the run. */
    readonly atMillis: number
  }>
  readonly gpus: ReadonlyArray<{
    readonly service: string
    readonly requests: number
    readonly busyAnswers: number
    /** The sum of the service times of its requests. */
    readonly busyMillis: number
    readonly utilization: number
  }>
  /** From the first submission to the last job's end. */
  readonly elapsedMillis: number
  /** The physical limit: the sum of the service times of the busiest GPU. */
  readonly limitMillis: number
  /** The demo's heartbeat service: `/heartbeat` and `/metrics` on 127.0.0.1 while it ran. */
  readonly heartbeat: {
    /** `http://127.0.0.1:port/heartbeat`. */
    readonly url: string
    /** What `GET /heartbeat` answered at the end (`unreachable`: no answer, see `error`). */
    readonly status: "ok" | "degraded" | "unreachable"
    /** Each breaker of that answer: `ollama CLOSED`. */
    readonly breakers: ReadonlyArray<string>
    /** How long the heartbeat said `degraded` during the run: the storm, as the breaker saw it. */
    readonly degradedMillis: number
    readonly error: string | undefined
  }
  readonly store: string
  readonly seed: number
}

/**
 * The demo did not end well: a job failed, the run took too long, or the store
 * could not be prepared.
 *
 * @since 0.1.0
 * @category Errors
 */
export class DemoFailed extends Schema.TaggedError<DemoFailed>()("DemoFailed", {
  reason: Schema.String
}) {
  override get message() {
    return `demo failed: ${this.reason}`
  }
}

/**
 * An option of {@link run} out of its range.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidDemoOption extends Schema.TaggedError<InvalidDemoOption>()("InvalidDemoOption", {
  option: Schema.String,
  value: Schema.String,
  expected: Schema.String
}) {
  override get message() {
    return `invalid demo option ${this.option}: ${this.value} (expected ${this.expected})`
  }
}

/**
 * The payload of a composition job.
 *
 * @since 0.1.0
 * @category Jobs
 */
export const Request = Workflow.Request

/**
 * The result of a composition job.
 *
 * @since 0.1.0
 * @category Jobs
 */
export const Piece = Workflow.Piece

/**
 * The composition job type (`demo.compose`), whose backoff scales with the
 * service time; `concurrency` is per worker.
 *
 * @since 0.1.0
 * @category Jobs
 */
export const composeJob = (options: {
  readonly serviceTime?: Duration.DurationInput | undefined
  readonly concurrency?: number | undefined
} = {}): Workflow.ComposeJob =>
  Workflow.composeJob(
    { serviceMillis: Duration.toMillis(Duration.decode(options.serviceTime ?? "300 millis")) },
    options.concurrency ?? 5
  )

/**
 * @since 0.1.0
 * @category Options
 */
export interface WorkerOptions {
  /** Each model's server. */
  readonly urls: Readonly<Record<"base" | "bridge" | "loops", string>>
  /** The lease owner. Default `demo-worker`. */
  readonly name?: string | undefined
  readonly serviceTime?: Duration.DurationInput | undefined
  /** Jobs at once. Default 5. */
  readonly concurrency?: number | undefined
}

/**
 * One demo worker on the `JobStore` in context: a supervisor running
 * {@link composeJob} with its own Orpheus client and GPU gate. Its
 * `JobSupervisor` also submits and waits.
 *
 * @since 0.1.0
 * @category Layers
 */
export const worker = (
  options: WorkerOptions
): Layer.Layer<JobSupervisor.JobSupervisor, InvalidPolicy, JobStore.JobStore> =>
  Layer.scoped(
    JobSupervisor.JobSupervisor,
    Effect.map(
      Workflow.makeWorker({
        name: options.name ?? "demo-worker",
        urls: options.urls,
        type: composeJob(options),
        timing: { serviceMillis: Duration.toMillis(Duration.decode(options.serviceTime ?? "300 millis")) }
      }),
      ({ supervisor }) => supervisor
    )
  )

type Settings = Show.Settings

const wholeIn = (option: string, value: number, min: number, max: number) =>
  Number.isInteger(value) && value >= min && value <= max
    ? Either.right(value)
    : Either.left(
      new InvalidDemoOption({ option, value: String(value), expected: `a whole number from ${min} to ${max}` })
    )

const millisIn = (option: string, value: Duration.DurationInput, min: number, max: number) => {
  const decoded = Duration.decodeUnknown(value)
  const millis = decoded._tag === "Some" ? Duration.toMillis(decoded.value) : Number.NaN
  return millis >= min && millis <= max
    ? Either.right(millis)
    : Either.left(
      new InvalidDemoOption({
        option,
        value: String(value),
        expected: `a duration from ${Duration.format(Duration.millis(min))} to ${Duration.format(Duration.millis(max))}`
      })
    )
}

/** 300 ms up to 10 jobs; shorter above, so that the show lasts about as long whatever the number of jobs. */
const autoServiceMillis = (jobs: number) => Math.max(20, Math.min(300, Math.round(3_000 / jobs)))

const settings = (options: Options): Either.Either<Settings, InvalidDemoOption> =>
  Either.gen(function*() {
    const store = options.store ?? defaults.store
    const url = yield* Either.mapLeft(
      StoreUrl.parse(store),
      (error) =>
        new InvalidDemoOption({
          option: "store",
          value: StoreUrl.redact(store),
          expected: `sqlite:path (${error.message})`
        })
    )
    const jobs = yield* wholeIn("jobs", options.jobs ?? defaults.jobs, 1, 100)
    return {
      jobs,
      seed: yield* wholeIn("seed", options.seed ?? defaults.seed, 0, 2 ** 32 - 1),
      store,
      filename: url.filename,
      view: options.view ?? defaults.view,
      workers: yield* wholeIn("workers", options.workers ?? defaults.workers, 1, 8),
      serviceMillis: options.serviceTime === undefined
        ? autoServiceMillis(jobs)
        : yield* millisIn("serviceTime", options.serviceTime, 5, 5_000),
      timeoutMillis: yield* millisIn("timeout", options.timeout ?? defaults.timeout, 1_000, 3_600_000),
      maxTokens: defaults.maxTokens
    }
  })

/**
 * A fresh store at `filename`. An existing file is removed only when it is a
 * job store holding nothing but demo jobs: the demo never deletes someone's
 * worker store (or any other file) that `--store` happened to name.
 */
const freshStore = (filename: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const failed = (reason: string) => new DemoFailed({ reason })
    yield* Effect.mapError(
      fs.makeDirectory(path.dirname(filename), { recursive: true }),
      (error) => failed(`cannot create the store's folder: ${error.message}`)
    )
    if (!(yield* fs.exists(filename).pipe(Effect.orElseSucceed(() => false)))) return
    const foreign = yield* Effect.scoped(Effect.gen(function*() {
      const jobs = Context.get(yield* Layer.build(JobStore.layerSqlite({ filename })), JobStore.JobStore)
      let after: number | undefined = undefined
      do {
        const page: { readonly jobs: ReadonlyArray<{ readonly type: string }>; readonly next: number | undefined } =
          yield* jobs.list({}, { after, limit: 500 })
        if (page.jobs.some((job) => job.type !== "demo.compose")) return true
        after = page.next
      } while (after !== undefined)
      return false
    })).pipe(
      Effect.mapError((error) =>
        failed(`${filename} exists and is not a demo store (${error.message}); name another file`)
      )
    )
    if (foreign) {
      return yield* failed(
        `${filename} holds jobs other than the demo's; the demo starts from a fresh store: name another file`
      )
    }
    for (const file of [filename, `${filename}-wal`, `${filename}-shm`]) {
      yield* fs.remove(file, { force: true }).pipe(
        Effect.mapError((error) => failed(`cannot remove the last run's store ${file}: ${error.message}`))
      )
    }
  })

/**
 * Runs the whole show in the current process and prints it (see {@link View}),
 * then the summary table. Fails with {@link DemoFailed} unless every job
 * succeeded within the timeout.
 *
 * @since 0.1.0
 * @category Running
 */
export const run = (
  options: Options = {}
): Effect.Effect<DemoSummary, DemoFailed | InvalidDemoOption, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const config = yield* settings(options)
    yield* freshStore(config.filename)
    const summary = yield* Effect.scoped(Show.show(config)).pipe(
      Effect.mapError(({ reason }) => new DemoFailed({ reason })),
      Effect.withRandom(Random.make(config.seed)),
      // The show speaks for itself: the libraries' own log lines would break the live view.
      Logger.withMinimumLogLevel(LogLevel.None)
    )
    yield* Console.log(DemoView.summaryTable(summary))
    if (summary.failed.length > 0) {
      const first = summary.failed[0]!
      return yield* new DemoFailed({
        reason: `${summary.failed.length} of ${summary.jobs} jobs did not succeed (job ${
          String(first.index).padStart(2, "0")
        }: ${first.error})`
      })
    }
    return summary
  }).pipe(Effect.withSpan("Demo.run"))
