import * as Job from "@bulwark/jobs/Job"
import Table from "cli-table3"
import * as Schema from "effect/Schema"

/**
 * Plain tables: no colours (the output is often piped, diffed or read in CI
 * logs), the box drawing of cli-table3's default.
 */
const table = (options: ConstructorParameters<typeof Table>[0] = {}) =>
  new Table({ ...options, style: { head: [], border: [], ...options.style } })

const since = (millis: number) => {
  const seconds = Math.round(millis / 1000)
  if (seconds < 1) return `${Math.max(0, Math.round(millis))}ms`
  if (seconds < 90) return `${seconds}s`
  const minutes = Math.round(seconds / 60)
  if (minutes < 90) return `${minutes}m`
  const hours = Math.round(minutes / 60)
  if (hours < 36) return `${hours}h`
  return `${Math.round(hours / 24)}d`
}

/**
 * `in 12s`, `3m ago`, `now`: a time relative to `now` (both epoch millis).
 *
 * @internal
 */
export const relative = (at: number, now: number): string =>
  Math.abs(at - now) < 1000 ? "now" : at > now ? `in ${since(at - now)}` : `${since(now - at)} ago`

/**
 * An ISO timestamp with its relative form, for the detail view.
 *
 * @internal
 */
export const timestamp = (at: number, now: number): string => `${new Date(at).toISOString()} (${relative(at, now)})`

/**
 * One line of at most `max` characters.
 *
 * @internal
 */
export const excerpt = (text: string, max: number): string => {
  const line = text.replace(/\s+/g, " ").trim()
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`
}

/**
 * What the "run at / updated" column says of a job: when it runs next while
 * it waits, since when it runs, or when it ended.
 *
 * @internal
 */
export const when = (job: Job.JobRecord, now: number): string => {
  switch (job.state) {
    case "queued":
    case "scheduled":
    case "retrying":
      return job.runAt > now ? `runs ${relative(job.runAt, now)}` : `due ${relative(job.runAt, now)}`
    case "running":
      return `started ${relative(job.startedAt ?? job.updatedAt, now)}`
    default:
      return `ended ${relative(job.finishedAt ?? job.updatedAt, now)}`
  }
}

const lastError = (job: Job.JobRecord) => job.errors[job.errors.length - 1]

/**
 * The table of `bulwark jobs list`.
 *
 * @internal
 */
export const jobsTable = (jobs: ReadonlyArray<Job.JobRecord>, now: number): string => {
  const rows = table({
    head: ["id", "type", "state", "attempt/max", "run at / updated", "last error"],
    style: { compact: true }
  })
  for (const job of jobs) {
    const error = lastError(job)
    rows.push([
      job.id,
      job.type,
      job.state,
      `${job.attempts}/${job.maxAttempts}`,
      when(job, now),
      error === undefined ? "" : excerpt(`${error.tag}: ${error.message}`, 60)
    ])
  }
  return rows.toString()
}

const json = (value: unknown) => JSON.stringify(value, null, 2) ?? "undefined"

/**
 * The detail of `bulwark jobs show <id>`: the job's fields, then its errors,
 * steps, payload and result.
 *
 * @internal
 */
export const jobDetail = (job: Job.JobRecord, now: number): string => {
  const fields = table()
  const field = (name: string, value: string | undefined) => {
    if (value !== undefined) fields.push({ [name]: value })
  }
  field("id", job.id)
  field("type", job.type)
  field("queue", job.queue)
  field("state", job.state)
  field("attempts", `${job.attempts}/${job.maxAttempts}`)
  field("busy re-queues", `${job.rateLimited}/${job.maxRateLimited}`)
  field("priority", String(job.priority))
  field("created", timestamp(job.createdAt, now))
  field("run at", timestamp(job.runAt, now))
  field("started", job.startedAt === undefined ? undefined : timestamp(job.startedAt, now))
  field("finished", job.finishedAt === undefined ? undefined : timestamp(job.finishedAt, now))
  field("updated", timestamp(job.updatedAt, now))
  field(
    "lease",
    job.lease === undefined ? undefined : `${job.lease.owner}, expires ${relative(job.lease.expiresAt, now)}`
  )
  field("dedupe key", job.dedupeKey)
  field("steps done", Object.keys(job.steps).length === 0 ? undefined : Object.keys(job.steps).join(", "))
  field("progress", job.progress === undefined ? undefined : excerpt(json(job.progress), 100))
  const sections = [fields.toString()]
  if (job.errors.length > 0) {
    const errors = table({
      head: ["attempt", "at", "error", "message"],
      wordWrap: true,
      colWidths: [null, null, null, 70]
    })
    for (const error of job.errors) {
      errors.push([String(error.attempt), relative(error.at, now), error.tag, error.message])
    }
    sections.push(`errors (oldest first):\n${errors.toString()}`)
  }
  sections.push(`payload:\n${json(job.payload)}`)
  if (job.result !== undefined) sections.push(`result:\n${json(job.result)}`)
  return sections.join("\n\n")
}

const encode = Schema.encodeSync(Job.JobRecord)

/**
 * A job as the JSON documents print it: its encoded form, what the store
 * keeps, but for the lease's token (whoever holds it may complete the job in
 * the worker's stead; no person needs it).
 *
 * @internal
 */
export const encodeJob = (job: Job.JobRecord): unknown => {
  const encoded = encode(job)
  return encoded.lease === undefined ? encoded : { ...encoded, lease: { ...encoded.lease, token: "<redacted>" } }
}
