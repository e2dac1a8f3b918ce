/**
 * `pnpm --filter @bulwark/example-fanfare start`: composes a batch of pieces
 * through the job runtime, against emulated Orpheus servers unless
 * `ORPHEUS_BASE_URL` / `ORPHEUS_BRIDGE_URL` / `ORPHEUS_LOOPS_URL` point at real ones.
 *
 * FANFARE_JOBS (8), FANFARE_WORKERS (2), FANFARE_CONCURRENCY (4 per worker),
 * FANFARE_MAX_TOKENS (128), FANFARE_STORE (.fanfare/jobs.db).
 */
import { JobStore } from "@bulwark/jobs"
import { FileSystem, Path } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect } from "effect"
import * as Fanfare from "./Fanfare.js"
import * as Log from "./Log.js"
import * as Summary from "./Summary.js"

const positive = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: "a whole number ≥ 1", validation: (n) => n >= 1 })
  )

const main = Effect.gen(function*() {
  const jobs = yield* positive("FANFARE_JOBS", 8)
  const workers = yield* positive("FANFARE_WORKERS", 2)
  const concurrency = yield* positive("FANFARE_CONCURRENCY", 4)
  const maxTokens = yield* positive("FANFARE_MAX_TOKENS", 128)
  const filename = yield* Config.string("FANFARE_STORE").pipe(Config.withDefault(".fanfare/jobs.db"))
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  yield* fs.makeDirectory(path.dirname(filename), { recursive: true })
  yield* Effect.log(`Job store: ${filename}; ${workers} workers, ${concurrency} jobs each at once`)

  const report = yield* Fanfare.run({
    jobs,
    workers,
    maxTokens,
    store: JobStore.layerSqlite({ filename }),
    compose: { concurrency }
  })
  yield* Console.log("")
  for (const line of Summary.lines(report)) yield* Console.log(line)
  if (report.jobs.some((job) => job.status !== "complete")) process.exitCode = 1
}).pipe(Effect.scoped, Effect.provide(Log.layer()), Effect.provide(NodeContext.layer))

NodeRuntime.runMain(main, { disablePrettyLogger: true })
