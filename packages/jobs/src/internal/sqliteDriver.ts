/**
 * The better-sqlite3 connection the SQLite store's hot path runs on.
 *
 * Why not @effect/sql for every statement: a statement through it costs
 * ~68 µs (template compiling, a span, the prepared-statement Cache, the
 * connection semaphore), several per write, which capped the store near 5k
 * writes/s. better-sqlite3 is synchronous, so a whole write (BEGIN IMMEDIATE
 * … COMMIT) runs as one synchronous call on prepared statements, a few µs per
 * statement, and never holds the write lock across an await. @effect/sql
 * keeps the schema (its Migrator) and the caller's own connection.
 *
 * The driver is the very module @effect/sql-sqlite-node loads (resolved from
 * it), so the store needs no dependency or native build of its own; only the
 * few methods it uses are typed here (better-sqlite3 ships no types).
 *
 * @internal
 */
import { createRequire } from "node:module"

/** @internal */
export interface RunResult {
  readonly changes: number
  readonly lastInsertRowid: number | bigint
}

/** A prepared statement; parameters are positional (`?`). @internal */
export interface Statement<Row = unknown> {
  readonly run: (...params: ReadonlyArray<unknown>) => RunResult
  readonly get: (...params: ReadonlyArray<unknown>) => Row | undefined
  readonly all: (...params: ReadonlyArray<unknown>) => Array<Row>
}

/** @internal */
export interface Transaction<A> {
  /** Runs in a deferred `BEGIN`, or inside a `SAVEPOINT` when a transaction is open already. */
  (): A
  /** Runs in `BEGIN IMMEDIATE`: the write lock is taken before the first read. */
  readonly immediate: () => A
  /** Runs in a deferred `BEGIN`: a consistent read snapshot. */
  readonly deferred: () => A
}

/** @internal */
export interface Database {
  readonly prepare: <Row = unknown>(sql: string) => Statement<Row>
  readonly pragma: (source: string) => unknown
  /** Commits when `fn` returns, rolls back when it throws. */
  readonly transaction: <A>(fn: () => A) => Transaction<A>
  readonly close: () => void
  readonly open: boolean
}

type Constructor = new(filename: string, options?: { readonly fileMustExist?: boolean }) => Database

let constructor: Constructor | undefined

const load = (): Constructor => {
  if (constructor === undefined) {
    // the same version @effect/sql-sqlite-node runs (pinned alike in package.json); it ships no types
    constructor = createRequire(import.meta.url)("better-sqlite3") as Constructor
  }
  return constructor
}

/**
 * Opens `filename` (created if missing). `busy_timeout = 0`: a lock held by
 * another connection is waited for by the store with an Effect schedule, not
 * inside SQLite, which would block the event loop (and so the very fiber that
 * may hold that lock on the caller's own connection).
 *
 * @internal
 */
export const open = (filename: string): Database => {
  const Sqlite = load()
  const db = new Sqlite(filename)
  try {
    db.pragma("busy_timeout = 0")
    // WAL with synchronous=NORMAL is durable across a process crash (SIGKILL),
    // which is the failure the store is for; only an OS crash may lose the last commits.
    db.pragma("journal_mode = WAL")
    db.pragma("synchronous = NORMAL")
    return db
  } catch (error) {
    db.close()
    throw error
  }
}

/** SQLITE_BUSY and its extended codes: another connection holds the lock. @internal */
export const isBusy = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" &&
  (error.code.startsWith("SQLITE_BUSY") || error.code.startsWith("SQLITE_LOCKED"))
