/**
 * `bulwark jobs`: look at and act on the jobs of a store, from outside the
 * worker that runs them (the store is the only thing they share).
 *
 * ```
 * bulwark jobs list [--state S]... [--type T]... [--limit N] [--json]
 * bulwark jobs show <id> [--json]
 * bulwark jobs cancel <id> [--json]
 * bulwark jobs retry <id> [--json]
 * bulwark jobs prune [--older-than 7d] [--keep N] [--json]
 * ```
 *
 * Every subcommand takes `--store` (see `StoreUrl`) and refuses a store file
 * that does not exist. With `--json`, each prints one JSON document instead
 * of its table or sentence: `list` `{jobs, matched, counts}`, `show` the job,
 * `cancel` and `retry` `{id, from, to}` (the states before and after), `prune`
 * `{pruned}`; a failure is still one line on stderr and exit code 1.
 *
 * @since 0.1.0
 */
import * as Job from "@bulwark/jobs/Job"
import * as JobStore from "@bulwark/jobs/JobStore"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Durations from "./internal/duration.js"
import * as SharedOptions from "./internal/options.js"
import * as Render from "./internal/render.js"
import * as Usage from "./internal/usage.js"
import * as StoreUrl from "./StoreUrl.js"

/**
 * `cancel` of a job that already ended (succeeded or failed).
 *
 * @since 0.1.0
 * @category Errors
 */
export class NotCancellable extends Schema.TaggedError<NotCancellable>()("NotCancellable", {
  id: Schema.String,
  state: Job.JobState
}) {
  override get message() {
    return `job ${this.id} has already ${this.state}: only a job that has not ended can be cancelled`
  }
}

/**
 * Runs `f` on the store named by `url`, opened for this command only.
 *
 * @since 0.1.0
 * @category Running
 */
export const withStore = <A, E, R>(
  url: string,
  f: (store: JobStore.Service, now: number) => Effect.Effect<A, E, R>
): Effect.Effect<
  A,
  E | StoreUrl.InvalidStoreUrl | StoreUrl.UnsupportedStore | StoreUrl.StoreNotFound | JobStore.StoreFailure,
  Exclude<R, JobStore.JobStore> | FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    const parsed = yield* StoreUrl.parse(url)
    const store = StoreUrl.redact(url)
    return yield* Effect.flatMap(
      Effect.zip(JobStore.JobStore, Clock.currentTimeMillis),
      ([store, now]) => f(store, now)
    ).pipe(
      Effect.provide(StoreUrl.layerExisting(parsed)),
      Effect.annotateLogs({ store }),
      Effect.withSpan("JobsCommand.withStore", { attributes: { store } })
    )
  })

const printJson = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

const id = Args.text({ name: "ID" }).pipe(Args.withDescription("The job's id (as `jobs list` shows it)."))

const states = Job.JobState.literals

const pageSize = 500

/**
 * The last `limit` jobs matching `filter`, in submission order, and how many
 * match in all: the store pages forwards only, and the newest jobs are the
 * ones a person asks about.
 */
const tail = (store: JobStore.Service, filter: Job.JobFilter, limit: number) =>
  Effect.gen(function*() {
    let kept: Array<Job.JobRecord> = []
    let matched = 0
    let after: number | undefined = undefined
    do {
      const page: Job.Page = yield* store.list(filter, { after, limit: pageSize })
      matched += page.jobs.length
      kept = kept.concat(page.jobs).slice(-limit)
      after = page.next
    } while (after !== undefined)
    return { jobs: kept, matched }
  })

const countsLine = (counts: Readonly<Record<Job.JobState, number>>) => {
  const parts = states.filter((state) => counts[state] > 0).map((state) => `${counts[state]} ${state}`)
  return parts.length === 0 ? "the store holds no jobs" : `in the store: ${parts.join(", ")}`
}

const list = Command.make(
  "list",
  {
    store: SharedOptions.store,
    state: Options.choice("state", states).pipe(
      Options.withPseudoName("STATE"),
      Options.repeated,
      Options.withDescription("Only jobs in this state (repeat for several).")
    ),
    type: Options.text("type").pipe(
      Options.withPseudoName("TYPE"),
      Options.repeated,
      Options.withDescription("Only jobs of this type (repeat for several).")
    ),
    limit: Options.integer("limit").pipe(
      Options.withPseudoName("N"),
      Options.filterMap((n) => (n >= 1 ? Option.some(n) : Option.none()), "--limit must be at least 1"),
      Options.withDescription("Show the newest N matching jobs (default 50)."),
      Options.withDefault(50)
    ),
    json: SharedOptions.json
  },
  (options) =>
    withStore(options.store, (store, now) =>
      Effect.gen(function*() {
        const filter: Job.JobFilter = {
          ...(options.state.length > 0 ? { states: options.state } : {}),
          ...(options.type.length > 0 ? { types: options.type } : {})
        }
        const { jobs, matched } = yield* tail(store, filter, options.limit)
        const counts = yield* store.counts
        if (options.json) {
          return yield* printJson({ jobs: jobs.map(Render.encodeJob), matched, counts })
        }
        if (jobs.length > 0) yield* Console.log(Render.jobsTable(jobs, now))
        const shown = matched === 0
          ? "no matching jobs"
          : jobs.length < matched
          ? `the newest ${jobs.length} of ${matched} matching jobs`
          : `${matched} matching job${matched === 1 ? "" : "s"}`
        yield* Console.log(`${shown}; ${countsLine(counts)}`)
      })).pipe(Effect.withSpan("JobsCommand.list"))
).pipe(Command.withDescription("List the newest jobs of a store (oldest of them first), with the count per state."))

const show = Command.make(
  "show",
  { store: SharedOptions.store, id, json: SharedOptions.json },
  (options) =>
    withStore(options.store, (store, now) =>
      Effect.gen(function*() {
        const job = yield* store.get(Job.JobId.make(options.id))
        yield* options.json ? printJson(Render.encodeJob(job)) : Console.log(Render.jobDetail(job, now))
      })).pipe(Effect.withSpan("JobsCommand.show", { attributes: { jobId: options.id } }))
).pipe(Command.withDescription("Show one job: its state, attempts, every error, steps, payload and result."))

/** What `cancel` and `retry` print with `--json`. */
const transition = (id: string, from: Job.JobState, to: Job.JobState) => printJson({ id, from, to })

const cancel = Command.make(
  "cancel",
  { store: SharedOptions.store, id, json: SharedOptions.json },
  (options) =>
    withStore(options.store, (store, now) =>
      Effect.gen(function*() {
        const jobId = Job.JobId.make(options.id)
        const before = yield* store.get(jobId)
        if (before.state === "cancelled") {
          return yield* options.json
            ? transition(jobId, before.state, before.state)
            : Console.log(`job ${jobId} was already cancelled`)
        }
        const after = yield* store.cancel(jobId, now)
        // It may have ended between the two reads: then the store left it as it was.
        if (after.state !== "cancelled") return yield* new NotCancellable({ id: jobId, state: after.state })
        yield* Effect.logDebug("job cancelled").pipe(Effect.annotateLogs({ jobId, was: before.state }))
        if (options.json) return yield* transition(jobId, before.state, after.state)
        yield* Console.log(
          before.state === "running"
            ? `cancelled job ${jobId} (was running: its worker's lease is revoked, so what the attempt ` +
              `still writes is refused)`
            : `cancelled job ${jobId} (was ${before.state})`
        )
      })).pipe(Effect.withSpan("JobsCommand.cancel", { attributes: { jobId: options.id } }))
).pipe(Command.withDescription("Cancel a job that has not ended (a running one too: its result will be refused)."))

const retry = Command.make(
  "retry",
  { store: SharedOptions.store, id, json: SharedOptions.json },
  (options) =>
    withStore(options.store, (store, now) =>
      Effect.gen(function*() {
        const jobId = Job.JobId.make(options.id)
        const before = yield* store.get(jobId)
        const job = yield* store.retry(jobId, now)
        yield* Effect.logDebug("job re-queued").pipe(Effect.annotateLogs({ jobId, was: before.state }))
        if (options.json) return yield* transition(jobId, before.state, job.state)
        yield* Console.log(
          `re-queued job ${jobId} (was ${before.state} after ${before.attempts}/${before.maxAttempts} attempts): ` +
            `${job.state} with its attempts reset, it runs when a worker claims it`
        )
      })).pipe(Effect.withSpan("JobsCommand.retry", { attributes: { jobId: options.id } }))
).pipe(Command.withDescription("Re-queue a failed or cancelled job, with its attempts counted afresh."))

const prune = Command.make(
  "prune",
  {
    store: SharedOptions.store,
    olderThan: Options.text("older-than").pipe(
      Options.withPseudoName("DURATION"),
      Options.withDescription(
        "Delete ended jobs that finished longer ago than this: 7d (the default), 12h, 30m, 1h30m."
      ),
      Options.withDefault("7d"),
      Options.filterMap(Durations.parse, "--older-than takes a duration such as 7d, 12h, 30m or 1h30m")
    ),
    keep: Options.integer("keep").pipe(
      Options.withPseudoName("N"),
      Options.filterMap((n) => (n >= 0 ? Option.some(n) : Option.none()), "--keep must be 0 or more"),
      Options.withDescription("Also delete ended jobs beyond the N most recent ones."),
      Options.optional
    ),
    json: SharedOptions.json
  },
  (options) =>
    withStore(options.store, (store, now) =>
      Effect.gen(function*() {
        const pruned = yield* store.prune({
          finishedBefore: now - Duration.toMillis(options.olderThan),
          keep: Option.getOrUndefined(options.keep)
        })
        yield* Effect.logDebug("jobs pruned").pipe(Effect.annotateLogs({ pruned }))
        if (options.json) return yield* printJson({ pruned })
        const beyond = Option.match(options.keep, {
          onNone: () => "",
          onSome: (keep) => `, or beyond the ${keep} most recent`
        })
        yield* Console.log(
          `pruned ${pruned} ended job${pruned === 1 ? "" : "s"} (finished over ${
            Duration.format(options.olderThan)
          } ago${beyond}); jobs that have not ended are never pruned`
        )
      })).pipe(Effect.withSpan("JobsCommand.prune"))
).pipe(Command.withDescription("Delete ended jobs (succeeded, failed, cancelled) that finished long ago."))

/**
 * `bulwark jobs …`.
 *
 * @since 0.1.0
 * @category Commands
 */
export const command = Command.make(
  "jobs",
  {},
  () => Usage.missingSubcommand("bulwark jobs", ["list", "show", "cancel", "retry", "prune"])
).pipe(
  Command.withDescription("Look at and act on the jobs of a store: list, show, cancel, retry, prune."),
  Command.withSubcommands([list, show, cancel, retry, prune])
)
