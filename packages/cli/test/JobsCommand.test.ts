import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { runCli } from "./utils/cli.js"
import { read, seed, T, tempDir } from "./utils/store.js"

/** A store seeded with five jobs, the clock at T + 10s. */
const seeded = Effect.gen(function*() {
  const dir = yield* tempDir
  const filename = path.join(dir, "jobs.db")
  yield* seed(filename)
  yield* TestClock.setTime(T + 10_000)
  return { filename, store: `sqlite:${filename}` }
})

describe("bulwark jobs list", () => {
  it.scoped("a table of every job, then the count per state", () =>
    Effect.gen(function*() {
      const { store } = yield* seeded
      const result = yield* runCli("jobs", "list", "--store", store)
      expect(result.code).toBe(0)
      expect(result.stderr).toBe("")
      const lines = result.stdout.split("\n")
      const header = lines.find((line) => line.includes("attempt/max"))!
      for (const column of ["id", "type", "state", "attempt/max", "run at / updated", "last error"]) {
        expect(header).toContain(column)
      }
      const row = (id: string) => lines.find((line) => line.includes(` ${id} `))!
      expect(row("q-1")).toMatch(/compose\s+│ queued\s+│ 0\/3\s+│ due 10s ago/)
      expect(row("s-2")).toMatch(/succeeded\s+│ 1\/3\s+│ ended 9s ago/)
      expect(row("f-3")).toMatch(/comment\s+│ failed\s+│ 1\/1\s+│ ended 8s ago\s+│ RateLimited: GitHub API rate limit/)
      expect(row("l-4")).toMatch(/scheduled\s+│ 0\/3\s+│ runs in 60m/)
      expect(row("r-5")).toMatch(/running\s+│ 1\/3\s+│ started 7s ago/)
      // Submission order, oldest on top.
      expect(["q-1", "s-2", "f-3", "l-4", "r-5"].map((id) => lines.indexOf(row(id)))).toEqual(
        [0, 1, 2, 3, 4].map((n) => lines.indexOf(row("q-1")) + n)
      )
      expect(result.stdout).toContain(
        "5 matching jobs; in the store: 1 scheduled, 1 queued, 1 running, 1 succeeded, 1 failed"
      )
    }))

  it.scoped("--state and --type filter, --limit keeps the newest", () =>
    Effect.gen(function*() {
      const { store } = yield* seeded
      const failed = yield* runCli("jobs", "list", "--store", store, "--state", "failed", "--state", "running")
      expect(failed.stdout).toContain("f-3")
      expect(failed.stdout).toContain("r-5")
      expect(failed.stdout).not.toContain("q-1")
      expect(failed.stdout).toContain("2 matching jobs")

      const newest = yield* runCli("jobs", "list", "--store", store, "--type", "compose", "--limit", "2")
      expect(newest.code).toBe(0)
      expect(newest.stdout).toContain("s-2")
      expect(newest.stdout).toContain("l-4")
      expect(newest.stdout).not.toContain("q-1")
      expect(newest.stdout).toContain("the newest 2 of 3 matching jobs")

      const none = yield* runCli("jobs", "list", "--store", store, "--type", "nothing")
      expect(none.stdout).not.toContain("attempt/max")
      expect(none.stdout).toContain("no matching jobs; in the store:")
    }))

  it.scoped("--json: one document with the jobs as stored, how many matched and the counts", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* seeded
      const result = yield* runCli("jobs", "list", "--store", store, "--state", "failed", "--json")
      expect(result.code).toBe(0)
      const document = JSON.parse(result.stdout)
      expect(document.matched).toBe(1)
      expect(document.counts).toEqual({
        scheduled: 1,
        queued: 1,
        running: 1,
        retrying: 0,
        succeeded: 1,
        failed: 1,
        cancelled: 0
      })
      expect(document.jobs).toEqual([JSON.parse(JSON.stringify(yield* read(filename, "f-3")))])
    }))

  it.scoped("the store from BULWARK_STORE when --store is not given", () =>
    Effect.gen(function*() {
      const { store } = yield* seeded
      const result = yield* runCli("jobs", "list").pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["BULWARK_STORE", store]])))
      )
      expect(result.code).toBe(0)
      expect(result.stdout).toContain("5 matching jobs")
    }))

  it.scoped("a store file that does not exist: a clear message, and no file is created", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "missing.db")
      for (const command of [["list"], ["show", "x"], ["cancel", "x"], ["retry", "x"], ["prune"]]) {
        const result = yield* runCli("jobs", ...command, "--store", `sqlite:${filename}`)
        expect(result.code).toBe(1)
        expect(result.stderr).toBe(
          `bulwark: no job store at ${filename}: point --store (or BULWARK_STORE) at your worker's store, ` +
            `e.g. --store sqlite:path/to/jobs.db\n`
        )
      }
      expect(fs.existsSync(filename)).toBe(false)
    }))

  it.scoped("store URLs: the URL form opens the same file; PostgreSQL and unknown kinds are refused", () =>
    Effect.gen(function*() {
      const { filename } = yield* seeded
      const url = yield* runCli("jobs", "list", "--store", `sqlite://${filename}`)
      expect(url.stdout).toContain("5 matching jobs")

      const postgres = yield* runCli("jobs", "list", "--store", "postgres://app:hunter2@db.internal/jobs")
      expect(postgres.code).toBe(1)
      expect(postgres.stderr).toBe(
        "bulwark: PostgreSQL stores are not supported yet (postgres://app:***@db.internal/jobs); " +
          "use a SQLite store: sqlite:path/to/jobs.db\n"
      )
      const bare = yield* runCli("jobs", "list", "--store", "jobs.db")
      expect(bare.code).toBe(1)
      expect(bare.stderr).toBe(`bulwark: invalid store "jobs.db": name the kind of store, e.g. sqlite:jobs.db\n`)
    }))
})

describe("bulwark jobs show", () => {
  it.scoped("the job's fields, every error, its payload and result", () =>
    Effect.gen(function*() {
      const { store } = yield* seeded
      const failed = yield* runCli("jobs", "show", "f-3", "--store", store)
      expect(failed.code).toBe(0)
      expect(failed.stdout).toMatch(/state\s+│ failed/)
      expect(failed.stdout).toMatch(/attempts\s+│ 1\/1/)
      expect(failed.stdout).toMatch(/finished\s+│ 2025-01-01T00:00:02\.000Z \(8s ago\)/)
      expect(failed.stdout).toContain("errors (oldest first):")
      expect(failed.stdout).toMatch(/1\s+│ 8s ago\s+│ RateLimited\s+│ GitHub API rate limit exceeded, retry after 60s/)
      expect(failed.stdout).toContain(`payload:\n{\n  "id": "f-3"\n}`)

      const succeeded = yield* runCli("jobs", "show", "s-2", "--store", store)
      expect(succeeded.stdout).toContain(`result:\n{\n  "bars": 8\n}`)
      expect(succeeded.stdout).not.toContain("errors")

      const running = yield* runCli("jobs", "show", "r-5", "--store", store)
      expect(running.stdout).toMatch(/lease\s+│ worker-1, expires in 23s/)
    }))

  it.scoped("--json prints the job as stored, but for its lease's token", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* seeded
      const result = yield* runCli("jobs", "show", "--json", "--store", store, "s-2")
      expect(result.code).toBe(0)
      expect(JSON.parse(result.stdout)).toEqual(JSON.parse(JSON.stringify(yield* read(filename, "s-2"))))

      const running = yield* runCli("jobs", "show", "--json", "--store", store, "r-5")
      const job = yield* read(filename, "r-5")
      expect(JSON.parse(running.stdout)).toEqual({
        ...JSON.parse(JSON.stringify(job)),
        lease: { owner: "worker-1", token: "<redacted>", expiresAt: T + 33_000 }
      })
      expect(running.stdout).not.toContain(job.lease!.token)
    }))

  it.scoped("an unknown id fails with one line", () =>
    Effect.gen(function*() {
      const { store } = yield* seeded
      const result = yield* runCli("jobs", "show", "nope", "--store", store)
      expect(result).toEqual({ code: 1, stdout: "", stderr: "bulwark: Job not found: nope\n" })
    }))
})

describe("bulwark jobs cancel", () => {
  it.scoped("cancels a waiting or running job; an ended one is refused, a cancelled one left as is", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* seeded
      const queued = yield* runCli("jobs", "cancel", "q-1", "--store", store)
      expect(queued).toEqual({ code: 0, stdout: "cancelled job q-1 (was queued)\n", stderr: "" })
      expect(yield* read(filename, "q-1")).toMatchObject({ state: "cancelled", finishedAt: T + 10_000 })

      const again = yield* runCli("jobs", "cancel", "q-1", "--store", store)
      expect(again).toEqual({ code: 0, stdout: "job q-1 was already cancelled\n", stderr: "" })

      const running = yield* runCli("jobs", "cancel", "r-5", "--store", store)
      expect(running.code).toBe(0)
      expect(running.stdout).toContain("cancelled job r-5 (was running: its worker's lease is revoked")
      expect((yield* read(filename, "r-5")).lease).toBeUndefined()

      const succeeded = yield* runCli("jobs", "cancel", "s-2", "--store", store)
      expect(succeeded).toEqual({
        code: 1,
        stdout: "",
        stderr: "bulwark: job s-2 has already succeeded: only a job that has not ended can be cancelled\n"
      })
      expect((yield* read(filename, "s-2")).state).toBe("succeeded")
    }))
})

describe("bulwark jobs retry", () => {
  it.scoped("re-queues a failed job; any other state is refused", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* seeded
      const failed = yield* runCli("jobs", "retry", "f-3", "--store", store)
      expect(failed.code).toBe(0)
      expect(failed.stdout).toBe(
        "re-queued job f-3 (was failed after 1/1 attempts): queued with its attempts reset, " +
          "it runs when a worker claims it\n"
      )
      expect(yield* read(filename, "f-3")).toMatchObject({ state: "queued", attempts: 0, runAt: T + 10_000 })

      const succeeded = yield* runCli("jobs", "retry", "s-2", "--store", store)
      expect(succeeded.code).toBe(1)
      expect(succeeded.stderr).toBe(
        "bulwark: job s-2 has succeeded: only a failed or cancelled job can be retried\n"
      )
      const missing = yield* runCli("jobs", "retry", "zzz", "--store", store)
      expect(missing.stderr).toBe("bulwark: Job not found: zzz\n")
    }))
})

describe("bulwark jobs prune", () => {
  it.scoped("deletes ended jobs finished before --older-than; others stay", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* seeded
      const none = yield* runCli("jobs", "prune", "--store", store)
      expect(none.stdout).toBe(
        "pruned 0 ended jobs (finished over 7d ago); jobs that have not ended are never pruned\n"
      )

      // s-2 ended 9s ago, f-3 8s ago.
      const one = yield* runCli("jobs", "prune", "--older-than", "8500ms", "--store", store)
      expect(one.code).toBe(0)
      expect(one.stdout).toContain("pruned 1 ended job (finished over 8s 500ms ago)")
      expect(yield* Effect.either(read(filename, "s-2"))).toMatchObject({ _tag: "Left" })
      expect((yield* read(filename, "f-3")).state).toBe("failed")

      const all = yield* runCli("jobs", "prune", "--older-than", "1s", "--store", store)
      expect(all.stdout).toContain("pruned 1 ended job")
      const list = yield* runCli("jobs", "list", "--store", store)
      expect(list.stdout).toContain("3 matching jobs; in the store: 1 scheduled, 1 queued, 1 running")
    }))

  it.scoped("--keep N also deletes ended jobs beyond the newest N", () =>
    Effect.gen(function*() {
      const { store } = yield* seeded
      const result = yield* runCli("jobs", "prune", "--keep", "0", "--store", store)
      expect(result.stdout).toContain("pruned 2 ended jobs (finished over 7d ago, or beyond the 0 most recent)")
    }))
})

describe("bulwark jobs cancel | retry | prune --json", () => {
  it.scoped("one JSON document each: {id, from, to} for cancel and retry, {pruned} for prune", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* seeded
      const json = (result: { readonly code: number; readonly stdout: string; readonly stderr: string }) => {
        expect(result.code).toBe(0)
        expect(result.stderr).toBe("")
        return JSON.parse(result.stdout)
      }
      expect(json(yield* runCli("jobs", "cancel", "q-1", "--json", "--store", store))).toEqual({
        id: "q-1",
        from: "queued",
        to: "cancelled"
      })
      // Already cancelled: nothing changed.
      expect(json(yield* runCli("jobs", "cancel", "q-1", "--json", "--store", store))).toEqual({
        id: "q-1",
        from: "cancelled",
        to: "cancelled"
      })
      expect(json(yield* runCli("jobs", "retry", "f-3", "--json", "--store", store))).toEqual({
        id: "f-3",
        from: "failed",
        to: "queued"
      })
      expect((yield* read(filename, "f-3")).state).toBe("queued")
      // A refusal is still one line on stderr, not a document.
      const refused = yield* runCli("jobs", "cancel", "s-2", "--json", "--store", store)
      expect(refused).toMatchObject({ code: 1, stdout: "" })
      expect(refused.stderr).toMatch(/^bulwark: job s-2 has already succeeded/)
      // s-2 ended 9s ago.
      expect(json(yield* runCli("jobs", "prune", "--older-than", "8500ms", "--json", "--store", store))).toEqual({
        pruned: 1
      })
    }))
})
