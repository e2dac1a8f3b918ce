/**
 * The run's settings, from the environment: `FANFARE_JOBS` (8),
 * `FANFARE_WORKERS` (2), `FANFARE_CONCURRENCY` (4 per worker),
 * `FANFARE_MAX_TOKENS` (128), `FANFARE_STORE` (`.fanfare/jobs.db`). A bad
 * value is refused, naming its variable, before anything starts: never a
 * silent default.
 */
import * as ConfigErrors from "@bulwark/core/ConfigErrors"
import { Config, ConfigError, Effect, Either, Schema } from "effect"

export interface Settings {
  /** Pieces to compose. */
  readonly jobs: number
  /** Workers sharing the store and the GPUs. */
  readonly workers: number
  /** Jobs one worker runs at once. */
  readonly concurrency: number
  /** Tokens per section. */
  readonly maxTokens: number
  /** The SQLite job store's file. */
  readonly store: string
}

const positive = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.mapOrFail((n) =>
      n >= 1 ? Either.right(n) : Either.left(ConfigError.InvalidData([], `Expected a whole number ≥ 1, got ${n}`))
    ),
    Config.withDefault(fallback)
  )

export const config: Config.Config<Settings> = Config.all({
  jobs: positive("FANFARE_JOBS", 8),
  workers: positive("FANFARE_WORKERS", 2),
  concurrency: positive("FANFARE_CONCURRENCY", 4),
  maxTokens: positive("FANFARE_MAX_TOKENS", 128),
  store: Config.nonEmptyString("FANFARE_STORE").pipe(Config.withDefault(".fanfare/jobs.db"))
})

/** A variable the run cannot use, with what is wrong with it; `main` prints it and exits 2. */
export class InvalidSetting extends Schema.TaggedError<InvalidSetting>()("InvalidSetting", {
  detail: Schema.String
}) {
  override get message() {
    return this.detail
  }

  /** The problems of a `ConfigError`, each naming its variable. */
  static fromConfigError(error: ConfigError.ConfigError) {
    return new InvalidSetting({ detail: ConfigErrors.describe(error) })
  }
}

/** The settings from the current `ConfigProvider` (the environment). */
export const load: Effect.Effect<Settings, InvalidSetting> = Effect.mapError(config, InvalidSetting.fromConfigError)
