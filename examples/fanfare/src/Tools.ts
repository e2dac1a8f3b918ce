/**
 * Seed 000's job tools — submit (an id at once), status, wait, list, poll and
 * sleep — as small functions over Bulwark's job supervisor, answering in the
 * seed's vocabulary (`pending` → `running` → `complete` / `failed` /
 * `cancelled`, plus `retrying` while a job waits to be re-queued).
 */
import type { Job } from "@bulwark/jobs"
import { JobSupervisor } from "@bulwark/jobs"
import type { Duration } from "effect"
import { Clock, Effect, Option, Schema } from "effect"
import type { Compose, Request } from "./Composition.js"
import { Piece } from "./Composition.js"

export type Status = "pending" | "running" | "retrying" | "complete" | "failed" | "cancelled"

/** seed 000's `JobInfo`, with what Bulwark keeps besides. */
export interface JobInfo {
  readonly jobId: string
  readonly status: Status
  readonly toolName: string
  readonly result: Piece | undefined
  readonly error: string | undefined
  /** Epoch milliseconds. */
  readonly createdAt: number
  readonly startedAt: number | undefined
  readonly completedAt: number | undefined
  /** Counted attempts (a GPU-busy re-queue does not count one). */
  readonly attempts: number
  /** Workflow steps completed and stored, in order. */
  readonly steps: ReadonlyArray<string>
}

const statusOf = (state: Job.JobState): Status => {
  switch (state) {
    case "scheduled":
    case "queued":
      return "pending"
    case "succeeded":
      return "complete"
    default:
      return state
  }
}

const decodePiece = Schema.decodeUnknownOption(Piece)

/** A stored job as the seed's tools show it. */
export const info = (record: Job.JobRecord): JobInfo => ({
  jobId: record.id,
  status: statusOf(record.state),
  toolName: record.type,
  result: record.state === "succeeded" ? Option.getOrUndefined(decodePiece(record.result)) : undefined,
  error: record.state === "failed" ? record.errors.at(-1)?.message : undefined,
  createdAt: record.createdAt,
  startedAt: record.startedAt,
  completedAt: record.finishedAt,
  attempts: record.attempts,
  steps: Object.keys(record.steps)
})

/** Stores the job and returns its id at once; a worker picks it up. */
export const submit = (compose: Compose, request: Request) =>
  Effect.flatMap(JobSupervisor.JobSupervisor, (jobs) => jobs.submit(compose, request))

/** `get_job_status`: an unknown id fails with `JobNotFound`. */
export const status = (id: Job.JobId) =>
  Effect.flatMap(JobSupervisor.JobSupervisor, (jobs) => Effect.map(jobs.status(id), info))

/**
 * `wait_for_job`: the job once it is final, whatever its outcome (a failed
 * job is a `JobInfo` with its error, as in the seed); `WaitTimedOut` past
 * `timeout` (default 300 seconds, the seed's), the job going on.
 */
export const wait = (compose: Compose, id: Job.JobId, timeout: Duration.DurationInput = "300 seconds") =>
  Effect.gen(function*() {
    const jobs = yield* JobSupervisor.JobSupervisor
    yield* jobs.wait(compose, id, { timeout }).pipe(
      Effect.catchTags({ JobFailed: () => Effect.void, JobCancelled: () => Effect.void })
    )
    return info(yield* jobs.status(id))
  })

/** `list_jobs`: every job of the store, oldest first. */
export const list = Effect.gen(function*() {
  const jobs = yield* JobSupervisor.JobSupervisor
  const all: Array<JobInfo> = []
  let after: number | undefined = undefined
  do {
    const page: Job.Page = yield* jobs.list({}, { after, limit: 500 })
    all.push(...page.jobs.map(info))
    after = page.next
  } while (after !== undefined)
  return all
})

export interface PollResult {
  readonly completed: ReadonlyArray<string>
  readonly pending: ReadonlyArray<string>
  /** Failed, cancelled and unknown ids, as in the seed. */
  readonly failed: ReadonlyArray<string>
  readonly elapsedMs: number
  readonly reason: "job_complete" | "timeout"
}

/**
 * `poll`: waits until any (or, with mode `all`, every) job of `jobIds` is
 * final, or `timeoutMs`; checks every `intervalMs` (the seed's 500 ms).
 * No ids: sleeps until the timeout, as the seed does.
 */
export const poll = (
  jobIds: ReadonlyArray<Job.JobId>,
  options: { readonly timeoutMs: number; readonly mode?: "any" | "all"; readonly intervalMs?: number }
) =>
  Effect.gen(function*() {
    const jobs = yield* JobSupervisor.JobSupervisor
    const start = yield* Clock.currentTimeMillis
    const check = Effect.gen(function*() {
      const completed: Array<string> = []
      const pending: Array<string> = []
      const failed: Array<string> = []
      for (const id of jobIds) {
        const record = yield* Effect.option(jobs.status(id))
        const state = Option.map(record, (r) => statusOf(r.state))
        if (Option.isNone(state) || state.value === "failed" || state.value === "cancelled") failed.push(id)
        else if (state.value === "complete") completed.push(id)
        else pending.push(id)
      }
      return { completed, pending, failed }
    })
    while (true) {
      const result = yield* check
      const now = yield* Clock.currentTimeMillis
      const done = jobIds.length > 0 &&
        ((options.mode ?? "any") === "all" ? result.pending.length === 0 : result.pending.length < jobIds.length)
      if (done || now - start >= options.timeoutMs) {
        return { ...result, elapsedMs: now - start, reason: done ? "job_complete" : "timeout" } satisfies PollResult
      }
      yield* Effect.sleep(Math.min(options.intervalMs ?? 500, options.timeoutMs - (now - start)))
    }
  })

/** `sleep`: at most 30 s, as the seed caps it. */
export const sleep = (milliseconds: number) =>
  Effect.gen(function*() {
    const slept = Math.max(0, Math.min(milliseconds, 30_000))
    yield* Effect.sleep(slept)
    return { sleptMs: slept, completedAt: yield* Clock.currentTimeMillis }
  })
