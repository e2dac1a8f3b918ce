/**
 * Per-run bookkeeping of workflow steps. The supervisor makes one
 * `JobType.Current` per attempt, so the names a run has used are kept by that
 * object, and are gone with it.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import type * as JobType from "../JobType.js"

const used = new WeakMap<JobType.Current, Set<string>>()

/** Marks `name` as used in this run; false when it already was. @internal */
export const claimName = (job: JobType.Current, name: string): boolean => {
  let names = used.get(job)
  if (names === undefined) {
    names = new Set()
    used.set(job, names)
  }
  if (names.has(name)) return false
  names.add(name)
  return true
}

/** What a durable sleep stores: when it ends (epoch ms of Effect's Clock). @internal */
export const wakeAt = Schema.Struct({ wakeAt: Schema.Number })
