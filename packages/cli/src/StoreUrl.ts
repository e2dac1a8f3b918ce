/**
 * Where the `bulwark` command finds a job store: `--store` (or the
 * `BULWARK_STORE` environment variable) names it by a URL.
 *
 * ```
 * sqlite:.bulwark/jobs.db        a file, relative to the working directory (the default)
 * sqlite:/var/lib/app/jobs.db    an absolute file
 * sqlite:///var/lib/app/jobs.db  the same, in URL form
 * postgres://user@host/db        refused for now: UnsupportedStore
 * ```
 *
 * A store is opened only if its file exists: a mistyped path must not leave
 * an empty database behind and report "no jobs".
 *
 * @since 0.1.0
 */
import * as JobStore from "@bulwark/jobs/JobStore"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

/**
 * A parsed store URL.
 *
 * @since 0.1.0
 * @category Models
 */
export interface StoreUrl {
  readonly _tag: "Sqlite"
  /** As given: relative paths are relative to the working directory. */
  readonly filename: string
}

/**
 * The store the commands use when neither `--store` nor `BULWARK_STORE` is set.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const defaultUrl = "sqlite:.bulwark/jobs.db"

/**
 * The environment variable that names the store when `--store` is not given.
 *
 * @since 0.1.0
 * @category Defaults
 */
export const envVar = "BULWARK_STORE"

/**
 * A store URL that cannot be read.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidStoreUrl extends Schema.TaggedError<InvalidStoreUrl>()("InvalidStoreUrl", {
  /** As given, but for its password (see {@link redact}). */
  url: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid store "${this.url}": ${this.reason}`
  }
}

/**
 * A store kind the command knows of but cannot open yet (PostgreSQL).
 *
 * @since 0.1.0
 * @category Errors
 */
export class UnsupportedStore extends Schema.TaggedError<UnsupportedStore>()("UnsupportedStore", {
  /** The URL without its password (see {@link redact}). */
  url: Schema.String,
  scheme: Schema.String
}) {
  override get message() {
    return `${this.scheme} stores are not supported yet (${this.url}); use a SQLite store: sqlite:path/to/jobs.db`
  }
}

/**
 * The store's file does not exist (nothing has run here, or the path is wrong).
 *
 * @since 0.1.0
 * @category Errors
 */
export class StoreNotFound extends Schema.TaggedError<StoreNotFound>()("StoreNotFound", {
  filename: Schema.String
}) {
  override get message() {
    return `no job store at ${this.filename}: point --store (or ${envVar}) at your worker's store, ` +
      `e.g. --store sqlite:path/to/jobs.db`
  }
}

const postgresSchemes = new Set(["postgres", "postgresql"])

const secretParams = /([?&;](?:password|passwd|pwd|sslpassword|secret|token|api[_-]?key)=)[^&;#]*/gi

/**
 * `text` with the password of its user info (`//user:password@host`) and any
 * password-like query parameter replaced by `***`: what every message, log
 * line and span attribute shows of a store URL, so that none prints a secret.
 * Works on text that is no valid URL too (it is what a user typed).
 *
 * @since 0.1.0
 * @category Parsing
 */
export const redact = (text: string): string => {
  const masked = text.replace(secretParams, "$1***")
  const start = masked.indexOf("//")
  if (start === -1) {
    // No "//": a scheme-less `user:password@host/db`, unless it is a SQLite path.
    return /^sqlite:/i.test(masked) ? masked : masked.replace(/^([^:/@]*):[^/@]*@/, "$1:***@")
  }
  const rest = masked.slice(start + 2)
  const queryStart = rest.search(/[?#]/)
  // The user info ends at the last "@" before the query: a password may hold an unencoded "@" or "/",
  // and hiding too much of a mistyped URL is better than printing a secret.
  const at = (queryStart === -1 ? rest : rest.slice(0, queryStart)).lastIndexOf("@")
  const colon = rest.indexOf(":")
  if (at === -1 || colon === -1 || colon > at) return masked
  return `${masked.slice(0, start + 2)}${rest.slice(0, colon)}:***${rest.slice(at)}`
}

/**
 * Reads a store URL.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parse = (text: string): Either.Either<StoreUrl, InvalidStoreUrl | UnsupportedStore> => {
  const shown = redact(text)
  const invalid = (reason: string) => Either.left(new InvalidStoreUrl({ url: shown, reason }))
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(text)?.[1]?.toLowerCase()
  if (scheme === undefined) {
    return invalid(
      text.trim() === "" ? "it is empty" : `name the kind of store, e.g. sqlite:${shown}`
    )
  }
  if (postgresSchemes.has(scheme)) {
    return Either.left(new UnsupportedStore({ url: shown, scheme: "PostgreSQL" }))
  }
  if (scheme !== "sqlite") return invalid(`unknown kind of store "${scheme}" (sqlite:path is supported)`)
  const rest = text.slice("sqlite:".length)
  if (rest.startsWith("//")) {
    // URL form: an empty host, then the absolute path (as in file:///path).
    const authorityEnd = rest.indexOf("/", 2)
    const host = authorityEnd === -1 ? rest.slice(2) : rest.slice(2, authorityEnd)
    if (host !== "") {
      return invalid(`a SQLite store has no host ("${redact(`//${host}`).slice(2)}"); write sqlite:///absolute/path`)
    }
    if (/[?#]/.test(rest)) return invalid("a SQLite store takes no query or fragment")
    const path = rest.slice(2)
    if (path === "/" || path === "") return invalid("the path is missing")
    return Either.try({
      try: () => ({ _tag: "Sqlite" as const, filename: decodeURIComponent(path) }),
      catch: () => new InvalidStoreUrl({ url: shown, reason: "the path is not valid percent-encoding" })
    })
  }
  if (rest === "") return invalid("the path is missing, e.g. sqlite:.bulwark/jobs.db")
  if (rest === ":memory:") return invalid("an in-memory store holds no jobs of another process; name a file")
  return Either.right({ _tag: "Sqlite", filename: rest })
}

/**
 * The SQLite store of `url`, refused with `StoreNotFound` when its file does
 * not exist: the commands read and change a worker's existing store, never
 * create one.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerExisting = (
  url: StoreUrl
): Layer.Layer<JobStore.JobStore, StoreNotFound | JobStore.StoreFailure, FileSystem.FileSystem> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const exists = yield* fs.exists(url.filename).pipe(Effect.orElseSucceed(() => false))
      if (!exists) return yield* new StoreNotFound({ filename: url.filename })
      return JobStore.layerSqlite({ filename: url.filename })
    })
  )
