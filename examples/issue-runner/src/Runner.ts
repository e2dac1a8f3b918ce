/**
 * The runner: submit one reply job per issue to a `JobSupervisor`, wait for
 * every job to end, and print the retry timeline as it happens, then what
 * each layer retried and what became of each issue.
 *
 * @since 0.1.0
 */
import { JobStore, JobSupervisor } from "@bulwark/jobs"
import { Clock, Effect, Either, FiberRef, HashSet, Layer, Logger, LogLevel, Random } from "effect"
import * as Endpoints from "./Endpoints.js"
import * as Issues from "./Issues.js"
import * as ReplyJob from "./ReplyJob.js"
import * as Storm from "./Storm.js"
import * as Timeline from "./Timeline.js"

/**
 * What became of one issue.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Outcome {
  readonly issue: string
  readonly jobId: string
  /** Counted attempts the job used. */
  readonly attempts: number
  readonly result: Either.Either<ReplyJob.Posted, { readonly _tag: string; readonly message: string }>
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Report {
  readonly outcomes: ReadonlyArray<Outcome>
  readonly entries: ReadonlyArray<Timeline.Entry>
  /** From the first submission to the last job's end. */
  readonly elapsedMillis: number
}

/**
 * The job supervisor running reply jobs, on an in-memory store.
 *
 * @since 0.1.0
 * @category Layers
 */
export const supervisorLayer = JobSupervisor.layer({ types: [ReplyJob.ReplyToIssue] }).pipe(
  Layer.provide(JobStore.layerMemory)
)

/**
 * Submits a job per issue (one per issue: the issue is the dedupe key, so a
 * webhook delivered twice does not post twice) and waits for all of them.
 *
 * @since 0.1.0
 * @category Programs
 */
export const run = (issues: ReadonlyArray<Issues.Issue>) =>
  Effect.gen(function*() {
    const jobs = yield* JobSupervisor.JobSupervisor
    const timeline = yield* Timeline.Timeline
    yield* timeline.begin
    const start = yield* Clock.currentTimeMillis
    const submitted = yield* Effect.forEach(issues, (issue) =>
      Effect.map(
        jobs.submit(ReplyJob.ReplyToIssue, issue, { dedupe: { key: Issues.ref(issue), mode: "existing" } }),
        (jobId) => ({ issue: Issues.ref(issue), jobId })
      ))
    const outcomes = yield* Effect.forEach(submitted, ({ issue, jobId }) =>
      Effect.gen(function*() {
        const result = yield* Effect.either(jobs.wait(ReplyJob.ReplyToIssue, jobId))
        const record = yield* jobs.status(jobId)
        return { issue, jobId, attempts: record.attempts, result } satisfies Outcome
      }), { concurrency: "unbounded" })
    const elapsedMillis = (yield* Clock.currentTimeMillis) - start
    return { outcomes, entries: yield* timeline.entries, elapsedMillis } satisfies Report
  }).pipe(Effect.withSpan("IssueRunner.run", { attributes: { "issue_runner.issues": issues.length } }))

/**
 * Runs `self` with `timeline` recording it: the timeline's logger instead
 * of every other (the console's included: the timeline is the output), debug
 * lines included (the token cache says when it minted), and the same jitter
 * draws on every run, so the timeline reads the same up to the network's
 * timing.
 *
 * @since 0.1.0
 * @category Programs
 */
export const observe = (timeline: Timeline.Service) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.provideService(Timeline.Timeline, timeline),
    Effect.withRandom(Random.make("issue-runner")),
    Effect.locally(FiberRef.currentLoggers, HashSet.make(timeline.logger, Logger.tracerLogger)),
    Logger.withMinimumLogLevel(LogLevel.Debug)
  )

/**
 * The lines after the timeline: the retries of each layer, then each issue.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const conclusion = (report: Report): ReadonlyArray<string> => [
  "",
  ...Timeline.summary(Timeline.totals(report.entries)),
  "",
  `${report.outcomes.filter((outcome) => Either.isRight(outcome.result)).length} of ${report.outcomes.length} ` +
  `issues answered in ${(report.elapsedMillis / 1000).toFixed(1)}s`,
  ...report.outcomes.map((outcome) =>
    `${outcome.issue.padEnd(16)}  ${
      Either.match(outcome.result, {
        onRight: (posted) => `answered (job attempt ${outcome.attempts}): ${posted.url}`,
        onLeft: (error) => `FAILED (job attempt ${outcome.attempts}): ${error._tag}: ${error.message}`
      })
    }`
  )
]

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** Where the lines go (the console in `main`). */
  readonly print: (line: string) => void
  /** The emulated storm. */
  readonly storm?: Storm.Options | undefined
  /** The issues; default `ISSUE_RUNNER_ISSUES_FILE`, else the bundled ones (emulated GitHub only). */
  readonly issues?: ReadonlyArray<Issues.Issue> | undefined
}

/**
 * The whole demo: real endpoints or emulators from the environment, the
 * issues, the jobs, the timeline printed live, and the conclusion.
 *
 * @since 0.1.0
 * @category Programs
 */
export const demo = (options: Options) =>
  Effect.gen(function*() {
    const targets = yield* Endpoints.targets
    const issues = options.issues ??
      (yield* Issues.load(targets.github === "emulated" ? Issues.bundled : undefined))
    // issues of a file exist in the emulated GitHub too
    const storm: Storm.Options = { repos: Storm.reposFor(issues), ...options.storm }
    const timeline = yield* Timeline.make({ onEntry: (entry) => options.print(Timeline.format(entry)) })
    const report = yield* Effect.gen(function*() {
      // once the clients are built: a bad variable stops the run before it prints anything
      options.print(`issue-runner (seed 001): ${issues.length} issue${issues.length === 1 ? "" : "s"}`)
      for (const line of Endpoints.describe(targets, storm)) options.print(`  ${line}`)
      options.print("")
      options.print(Timeline.render([])[0]!)
      return yield* run(issues)
    }).pipe(
      Effect.provide(supervisorLayer),
      Effect.provide(Endpoints.layer(targets, storm)),
      observe(timeline)
    )
    for (const line of conclusion(report)) options.print(line)
    return report
  })
