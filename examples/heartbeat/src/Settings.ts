/**
 * The example's settings: from flags (`--port 8080`), else the environment
 * (`HEARTBEAT_PORT=8080`), else the defaults. A flag is its variable's name
 * without the `HEARTBEAT_` prefix, lower-case with dashes, so both go through
 * one `Config`; a bad value is named as the user gave it, by its flag or by
 * its variable.
 */
import * as ConfigErrors from "@bulwark/core/ConfigErrors"
import type { Redacted } from "effect"
import { Config, ConfigError, ConfigProvider, Data, Duration, Effect, Either, Option } from "effect"

/** One upstream: where it is (none: an in-process emulator), its model and, for the emulator, its fault timeline. */
export interface Upstream {
  readonly url: string | undefined
  readonly model: string
  readonly faults: string
}

export interface Settings {
  /** 0: a free port. */
  readonly port: number
  readonly ollama: Upstream
  readonly openai: Upstream & { readonly apiKey: Redacted.Redacted | undefined }
  /** The timeout of each attempt of an upstream call. */
  readonly attemptTimeout: Duration.Duration
  /** How long the load generator runs (0: none), and how often it calls. */
  readonly loadDuration: Duration.Duration
  readonly loadInterval: Duration.Duration
  /** Keep serving after the load, until SIGINT. */
  readonly serve: boolean
  /** Log every failed attempt of the HTTP clients too. */
  readonly verbose: boolean
}

/** An http(s) URL, without its trailing slashes. */
const httpUrl = (text: string): string | undefined => {
  const url = URL.canParse(text) ? new URL(text) : undefined
  return url !== undefined && (url.protocol === "http:" || url.protocol === "https:")
    ? url.href.replace(/\/+$/, "")
    : undefined
}

/** `OLLAMA_HOST` as Ollama reads it: a URL, or `host[:port]` over http, port 11434 by default. */
const ollamaHost = (text: string): string | undefined => {
  if (text.includes("://")) return httpUrl(text)
  const url = httpUrl(`http://${text}`)
  return url === undefined ? undefined : new URL(url).port === "" ? `${url}:11434` : url
}

const optionalUrl = (name: string, parse: (text: string) => string | undefined, expected: string) =>
  Config.option(
    Config.nonEmptyString(name).pipe(Config.mapOrFail((text) => {
      const url = parse(text.trim())
      return url === undefined
        ? Either.left(ConfigError.InvalidData([], `Expected ${expected}, got ${JSON.stringify(text)}`))
        : Either.right(url)
    }))
  ).pipe(Config.map(Option.getOrUndefined))

/**
 * `OLLAMA_HOST` and `LLM_*` as `@bulwark/clients` reads them, so one environment
 * points every example at the same real endpoints.
 */
export const settings: Config.Config<Settings> = Config.all({
  port: Config.integer("HEARTBEAT_PORT").pipe(
    Config.validate({
      message: "Expected a port in [0, 65535] (0: a free one)",
      validation: (n) => n >= 0 && n <= 65535
    }),
    Config.withDefault(8080)
  ),
  ollama: Config.all({
    url: optionalUrl("OLLAMA_HOST", ollamaHost, "host:port or an http(s) URL"),
    model: Config.nonEmptyString("OLLAMA_MODEL").pipe(Config.withDefault("llama3.2:3b")),
    faults: Config.string("HEARTBEAT_OLLAMA_FAULTS").pipe(Config.withDefault("latency=5ms..30ms"))
  }),
  openai: Config.all({
    url: optionalUrl("LLM_BASE_URL", httpUrl, "an http(s) URL"),
    apiKey: Config.option(Config.redacted("LLM_API_KEY")).pipe(Config.map(Option.getOrUndefined)),
    model: Config.nonEmptyString("LLM_MODEL").pipe(Config.withDefault("gpt-4o-mini")),
    // healthy for 3 s, down for 5 s, then healthy: the breaker opens, probes, and closes
    faults: Config.string("HEARTBEAT_OPENAI_FAULTS").pipe(Config.withDefault("status=503@3s-8s; latency=5ms..30ms"))
  }),
  attemptTimeout: Config.duration("HEARTBEAT_ATTEMPT_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
  loadDuration: Config.duration("HEARTBEAT_LOAD_DURATION").pipe(Config.withDefault(Duration.seconds(12))),
  loadInterval: Config.duration("HEARTBEAT_LOAD_INTERVAL").pipe(Config.withDefault(Duration.millis(250))),
  serve: Config.boolean("HEARTBEAT_SERVE").pipe(Config.withDefault(false)),
  verbose: Config.boolean("HEARTBEAT_VERBOSE").pipe(Config.withDefault(false))
})

/** The variables a flag may set: `--load-duration` is `HEARTBEAT_LOAD_DURATION`. */
const flagged = [
  "PORT",
  "OLLAMA_FAULTS",
  "OPENAI_FAULTS",
  "ATTEMPT_TIMEOUT",
  "LOAD_DURATION",
  "LOAD_INTERVAL",
  "SERVE",
  "VERBOSE"
] as const

export const usage = `usage: heartbeat [--port N] [--load-duration "12 seconds"] [--load-interval "250 millis"]
                 [--openai-faults SPEC] [--ollama-faults SPEC] [--attempt-timeout "30 seconds"] [--serve] [--verbose]
environment: the same as HEARTBEAT_<FLAG> (HEARTBEAT_PORT, ...); OLLAMA_HOST, OLLAMA_MODEL,
             LLM_BASE_URL, LLM_API_KEY, LLM_MODEL point the upstreams at real endpoints;
             CIRCUIT_DEFAULT_* / CIRCUIT_<OLLAMA|OPENAI>_* tune the breakers.`

/** A command line that is not understood; `main` prints it with the usage and exits 2. */
export class BadArguments extends Data.TaggedError("BadArguments")<{ readonly reason: string }> {
  override get message() {
    return `${this.reason}\n${usage}`
  }
}

/** A value that cannot be used, named by its flag or its variable; `main` prints it and exits 2. */
export class InvalidSetting extends Data.TaggedError("InvalidSetting")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}

/**
 * The flags as the variables they stand for (`--port 0` → `HEARTBEAT_PORT=0`,
 * `--serve` → `HEARTBEAT_SERVE=true`), and the flag each variable came from.
 */
export const parseFlags = (
  args: ReadonlyArray<string>
): Either.Either<
  { readonly variables: Map<string, string>; readonly flags: Map<string, string> },
  BadArguments
> => {
  const variables = new Map<string, string>()
  const flags = new Map<string, string>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const match = /^--([a-z][a-z-]*)(?:=(.*))?$/.exec(arg)
    const name = match?.[1]?.toUpperCase().replace(/-/g, "_")
    if (match === null || name === undefined || !(flagged as ReadonlyArray<string>).includes(name)) {
      return Either.left(new BadArguments({ reason: `unknown argument ${JSON.stringify(arg)}` }))
    }
    let value = match[2]
    if (value === undefined && (name === "SERVE" || name === "VERBOSE")) value = "true"
    if (value === undefined) {
      value = args[++i]
      if (value === undefined) return Either.left(new BadArguments({ reason: `${arg} needs a value` }))
    }
    variables.set(`HEARTBEAT_${name}`, value)
    flags.set(`HEARTBEAT_${name}`, `--${match[1]}`)
  }
  return Either.right({ variables, flags })
}

/**
 * The settings from `args` over `env` (default: the process's environment).
 * A command line not understood fails with `BadArguments`, a bad value with
 * `InvalidSetting` naming its flag, or its variable when no flag set it.
 */
export const load = (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>> = process.env
): Effect.Effect<Settings, BadArguments | InvalidSetting> =>
  Effect.flatMap(parseFlags(args), ({ flags, variables: fromFlags }) => {
    const variables = new Map<string, string>()
    for (const [name, value] of Object.entries(env)) if (value !== undefined) variables.set(name, value)
    for (const [name, value] of fromFlags) variables.set(name, value)
    return Effect.withConfigProvider(settings, ConfigProvider.fromMap(variables)).pipe(
      Effect.mapError((error) => new InvalidSetting({ detail: ConfigErrors.describe(error, flags) }))
    )
  })

/** Defaults for tests and for code that builds settings by hand. */
export const defaults: Settings = {
  port: 0,
  ollama: { url: undefined, model: "llama3.2:3b", faults: "" },
  openai: { url: undefined, apiKey: undefined, model: "gpt-4o-mini", faults: "" },
  attemptTimeout: Duration.seconds(5),
  loadDuration: Duration.zero,
  loadInterval: Duration.millis(250),
  serve: false,
  verbose: false
}
