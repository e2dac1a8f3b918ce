/**
 * The `koderz` command line (@effect/cli), after the seed's
 *
 * ```
 * koderz benchmark --start 0 --end 164 --local-model qwen2.5-coder:32b --timeout 600 --max-retries 5
 * ```
 *
 * `koderz` alone runs the benchmark with every default: against the emulated
 * lab unless `--ollama-url` or `OLLAMA_HOST` names a real Ollama.
 * `koderz problems` lists the bundled set. Exit codes: 0 when every model
 * ran every problem, 1 when a model failed (after the summary) or the run
 * could not start, 2 for a bad option or environment variable.
 *
 * @since 0.1.0
 */
import * as ConfigErrors from "@bulwark/core/ConfigErrors"
import type { CliApp } from "@effect/cli"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import type { HttpClient } from "@effect/platform"
import { Config, ConfigError, Console, Duration, Effect, Logger, LogLevel, Option, Schema } from "effect"
import * as Benchmark from "./Benchmark.js"
import * as Lab from "./Lab.js"
import * as ModelClient from "./ModelClient.js"
import type { ModelReport } from "./Outcome.js"
import * as Problems from "./Problems.js"
import * as Report from "./Report.js"

const check = (ok: (n: number) => boolean, what: string) => (n: number) =>
  ok(n) ? Effect.succeed(n) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`${what}, got ${n}`)))

/**
 * The options of `koderz benchmark`.
 *
 * @since 0.1.0
 * @category Options
 */
export const options = {
  timeout: Options.float("timeout").pipe(
    Options.mapEffect(check((n) => Number.isFinite(n) && n > 0, "--timeout must be a number of seconds above 0")),
    Options.optional,
    Options.withDescription(
      "Seconds each request may take, for every model (the seed's --timeout). Default: each model's own — " +
        "OLLAMA_TIMEOUT (300 s), OLLAMA_TIMEOUT_SMALL (180 s below 13B), OLLAMA_TIMEOUT_LARGE (600 s from 70B), " +
        "OLLAMA_MODEL_TIMEOUTS; 1 s in the emulated lab."
    )
  ),
  maxRetries: Options.integer("max-retries").pipe(
    Options.mapEffect(check((n) => n >= 0, "--max-retries must be 0 or more")),
    Options.optional,
    Options.withDescription("Retries after the first request (default 3, or OLLAMA_RETRY_MAX_ATTEMPTS - 1).")
  ),
  start: Options.integer("start").pipe(
    Options.withDefault(0),
    Options.withDescription("Index of the first problem.")
  ),
  end: Options.integer("end").pipe(
    Options.optional,
    Options.withDescription("Index after the last problem (default: the end of the set).")
  ),
  localModels: Options.text("local-model").pipe(
    Options.repeated,
    Options.withDescription(
      "An Ollama model to benchmark; repeat for several. Default: every model the server lists " +
        "(the lab's demo models in the emulated lab)."
    )
  ),
  ollamaUrl: Options.text("ollama-url").pipe(
    Options.optional,
    Options.withDescription(
      "A real Ollama (host:port or URL), over OLLAMA_HOST. Without either, koderz starts its emulated lab."
    )
  ),
  concurrency: Options.integer("concurrency").pipe(
    Options.mapEffect(check((n) => Number.isInteger(n) && n >= 1, "--concurrency must be a whole number ≥ 1")),
    Options.optional,
    Options.withDescription("Problems sent at once, in batches (default 1; 4 in the emulated lab).")
  )
}

/**
 * What `koderz benchmark` was given.
 *
 * @since 0.1.0
 * @category Options
 */
export interface Flags {
  readonly timeout: Option.Option<number>
  readonly maxRetries: Option.Option<number>
  readonly start: number
  readonly end: Option.Option<number>
  readonly localModels: ReadonlyArray<string>
  readonly ollamaUrl: Option.Option<string>
  readonly concurrency: Option.Option<number>
}

const noFlags: Flags = {
  timeout: Option.none(),
  maxRetries: Option.none(),
  start: 0,
  end: Option.none(),
  localModels: [],
  ollamaUrl: Option.none(),
  concurrency: Option.none()
}

/**
 * A real Ollama that could not list its models when no `--local-model` was given.
 *
 * @since 0.1.0
 * @category Errors
 */
export class NoModels extends Schema.TaggedError<NoModels>()("NoModels", {
  url: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `cannot list the models of ${this.url} (${this.detail}); name them with --local-model`
  }
}

/**
 * The run went through and at least one model failed: the summary says which.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ModelsFailed extends Schema.TaggedError<ModelsFailed>()("ModelsFailed", {
  models: Schema.Array(Schema.String)
}) {
  override get message() {
    return `${this.models.length} model(s) failed: ${this.models.join(", ")}`
  }
}

const seedCapacityWait = Duration.seconds(60)

const secondsOf = (seconds: Option.Option<number>) => Option.getOrUndefined(Option.map(seconds, Duration.seconds))

/**
 * `koderz benchmark` with these flags: the models in turn, then the summary.
 *
 * @since 0.1.0
 * @category Commands
 */
export const benchmark = (flags: Flags) =>
  Effect.gen(function*() {
    const problems = yield* Problems.select({ start: flags.start, end: Option.getOrUndefined(flags.end) })
    const envHost = yield* Config.option(Config.string("OLLAMA_HOST"))
    const url = Option.orElse(flags.ollamaUrl, () => envHost)
    const maxRetries = Option.getOrUndefined(flags.maxRetries)
    const range = `${problems[0]?.id}…${problems.at(-1)?.id} (${problems.length})`

    if (Option.isSome(url)) {
      const baseUrl = Option.getOrUndefined(flags.ollamaUrl)
      const models = flags.localModels.length > 0 ? flags.localModels : yield* serverModels(baseUrl)
      const clients = yield* Effect.forEach(models, (model) => ModelClient.make(model, { baseUrl, maxRetries }))
      const concurrency = Option.getOrElse(flags.concurrency, () => 1)
      yield* Console.log(
        [
          `koderz benchmark — problems ${range}, ${models.length} model(s), ${concurrency} at a time`,
          `  Ollama: ${clients[0]?.ollama.baseUrl ?? url.value}`,
          "  grading: checks — each answer's code is read by the problem's checker (never run)",
          ""
        ].join("\n")
      )
      return yield* finish(
        yield* Benchmark.run(clients, {
          problems,
          timeout: secondsOf(flags.timeout),
          concurrency,
          grading: "checks",
          capacityWait: seedCapacityWait
        })
      )
    }

    const lab = yield* Lab.Lab
    const servers = yield* lab.start
    const models = flags.localModels.length > 0 ? flags.localModels : lab.models
    const clients = yield* Effect.forEach(models, (model) =>
      ModelClient.make(model, {
        baseUrl: Lab.route(servers, model).url,
        maxRetries,
        retry: lab.retry,
        timeout: lab.timeout
      }))
    const concurrency = Option.getOrElse(flags.concurrency, () => lab.concurrency)
    yield* Console.log(
      [
        `koderz benchmark — problems ${range}, ${models.length} model(s), ${concurrency} at a time`,
        "  Ollama: the emulated lab (no --ollama-url, no OLLAMA_HOST)",
        ...servers.map((server) => `    ${server.description}`),
        "  grading: synthetic — the emulator answers with random words, so a pass means a complete answer",
        "  came back in time: the pass rate measures koderz's resilience, not the model.",
        ""
      ].join("\n")
    )
    return yield* finish(
      yield* Benchmark.run(clients, {
        problems,
        timeout: secondsOf(flags.timeout),
        concurrency,
        grading: "synthetic",
        capacityWait: Duration.decode(lab.capacityWait)
      })
    )
  }).pipe(Effect.scoped, Effect.withSpan("koderz.benchmark"))

/** Every model the server lists (`/api/tags`). */
const serverModels = (baseUrl: string | undefined) =>
  Effect.gen(function*() {
    const lister = yield* ModelClient.make("", { baseUrl })
    const tags = yield* lister.ollama.tags.pipe(
      Effect.mapError((error) => new NoModels({ url: lister.ollama.baseUrl, detail: error.message }))
    )
    if (tags.models.length === 0) {
      return yield* new NoModels({ url: lister.ollama.baseUrl, detail: "it has none: pull one with `ollama pull`" })
    }
    return tags.models.map((model) => model.name)
  })

const finish = (reports: ReadonlyArray<ModelReport>) =>
  Effect.gen(function*() {
    yield* Console.log(Report.summary(reports).join("\n"))
    const failed = Report.failedModels(reports)
    if (failed.length > 0) return yield* new ModelsFailed({ models: failed.map((report) => report.model) })
  })

const listProblems = Console.log(
  Problems.all.map((problem) => `${problem.id.padEnd(6)} ${problem.entryPoint.padEnd(14)} ${problem.prompt}`).join(
    "\n"
  )
)

/**
 * `koderz [benchmark [options] | problems]`.
 *
 * @since 0.1.0
 * @category Commands
 */
export const command = Command.make("koderz", {}, () => benchmark(noFlags)).pipe(
  Command.withDescription(
    "A benchmark runner over Ollama models that degrades gracefully. Without a subcommand: " +
      "`koderz benchmark` with its defaults."
  ),
  Command.withSubcommands([
    Command.make("benchmark", options, benchmark).pipe(
      Command.withDescription(
        "Run the bundled problems against Ollama models; a failing model is skipped and reported at the end."
      )
    ),
    Command.make("problems", {}, () => listProblems).pipe(Command.withDescription("List the bundled problems."))
  ])
)

const cli = Command.run(command, { name: "koderz", version: "0.1.0" })

/**
 * The exit code of each way a run ends (see the module's header).
 *
 * @since 0.1.0
 * @category Running
 */
export const exitCodes = { ok: 0, failed: 1, usage: 2 } as const

/** The options of `koderz benchmark` that take a value. */
const valued = ["--timeout", "--max-retries", "--start", "--end", "--local-model", "--ollama-url", "--concurrency"]

/**
 * A valued option of `koderz benchmark` given no value: `--local-model` last,
 * or followed by another option. @effect/cli drops a repeated option's missing
 * value without a word (`--local-model` alone would benchmark the default
 * models) and takes the next option as its value (`--local-model --end 3`),
 * so both are refused here, before it parses.
 *
 * @since 0.1.0
 * @category Running
 */
export const missingValue = (args: ReadonlyArray<string>): string | undefined => {
  if (args[0] !== "benchmark") return undefined
  for (let i = 1; i < args.length; i++) {
    if (!valued.includes(args[i]!)) continue
    const value = args[i + 1]
    // `-1` is a value (a negative number, refused by its option with its own message)
    if (value === undefined || value.trim() === "" || value.startsWith("--")) return args[i]
    i++
  }
  return undefined
}

/**
 * What stops a run before its summary, as one line on stderr and the exit
 * code (see the module's header); `ModelsFailed` has printed its summary.
 *
 * @since 0.1.0
 * @category Running
 */
export const report = (error: unknown): Effect.Effect<number> => {
  // @effect/cli has already printed what was wrong with the command line
  if (ValidationError.isValidationError(error)) return Effect.succeed(exitCodes.usage)
  // an OLLAMA_*, LOG_LEVEL or OTEL_* variable that cannot be read
  if (ConfigError.isConfigError(error)) {
    return Effect.as(Console.error(`koderz: ${ConfigErrors.describe(error)}`), exitCodes.usage)
  }
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : ""
  const message = error instanceof Error && error.message !== "" ? error.message : tag || String(error)
  switch (tag) {
    case "ModelsFailed":
      return Effect.succeed(exitCodes.failed)
    case "InvalidRange":
    case "InvalidPolicy":
    case "InvalidSetting":
    case "InvalidTelemetry":
      return Effect.as(Console.error(`koderz: ${message}`), exitCodes.usage)
    default:
      // NoModels, LabFailed, a telemetry server that cannot listen
      return Effect.as(Console.error(`koderz: ${message}`), exitCodes.failed)
  }
}

/**
 * Runs the command line (the arguments after `node script`) and answers its
 * exit code; every failure is one message on stderr, never a stack trace.
 *
 * @since 0.1.0
 * @category Running
 */
export const run = (
  args: ReadonlyArray<string>
): Effect.Effect<number, never, HttpClient.HttpClient | Lab.Lab | CliApp.CliApp.Environment> =>
  Effect.gen(function*() {
    const missing = missingValue(args)
    if (missing !== undefined) {
      yield* Console.error(`koderz: ${missing} needs a value (koderz benchmark --help)`)
      return exitCodes.usage
    }
    const level = yield* Config.logLevel("LOG_LEVEL").pipe(Config.withDefault(LogLevel.Info))
    return yield* cli(["node", "koderz", ...args]).pipe(Effect.as(exitCodes.ok), Logger.withMinimumLogLevel(level))
  }).pipe(Effect.catchAll(report))
