/**
 * `bulwark emulate <orpheus|ollama|openai|github>`: one of the
 * `@bulwark/emulators` servers in the foreground, for pointing a real client
 * (or your own worker) at a service that fails on a timeline you choose.
 *
 * ```
 * bulwark emulate orpheus --port 8080 --faults "status=503@5s-15s; latency=20ms..80ms" --seed 7
 * ```
 *
 * It prints where it listens, serves until Ctrl-C (SIGINT / SIGTERM), then
 * prints what it served.
 *
 * @since 0.1.0
 */
import * as EmulatorsCli from "@bulwark/emulators/Cli"
import type * as EmulatorStats from "@bulwark/emulators/EmulatorStats"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as SharedOptions from "./internal/options.js"

/**
 * The services `emulate` can start.
 *
 * @since 0.1.0
 * @category Models
 */
export const services = ["orpheus", "ollama", "openai", "github"] as const

/**
 * @since 0.1.0
 * @category Models
 */
export type Service = typeof services[number]

/**
 * What `bulwark emulate` was asked for.
 *
 * @since 0.1.0
 * @category Models
 */
export interface EmulateOptions {
  readonly service: Service
  readonly port: number
  readonly faults: Option.Option<string>
  readonly seed: Option.Option<number>
  /** The emulator's own options (capacity, models, …), validated by the emulator. */
  readonly options: Readonly<Record<string, unknown>>
  readonly json: boolean
}

const counts = (record: Readonly<Record<string, number>>) =>
  Object.entries(record).map(([key, n]) => `${key}: ${n}`).join(", ")

const summary = (stats: EmulatorStats.Snapshot) =>
  [
    `${stats.service} emulator stopped after ${stats.requests} request${stats.requests === 1 ? "" : "s"}`,
    Object.keys(stats.responses).length > 0 ? `responses ${counts(stats.responses)}` : undefined,
    Object.keys(stats.faults).length > 0 ? `faults ${counts(stats.faults)}` : undefined
  ].filter((part) => part !== undefined).join("; ")

/**
 * Starts the emulator, says where it listens and serves until interrupted;
 * on the way out prints what it served. Refusals (a fault spec, an option,
 * a port in use) are the emulators' typed errors, each saying what to fix.
 *
 * @since 0.1.0
 * @category Running
 */
export const run = Effect.fn("EmulateCommand.run")(function*(options: EmulateOptions) {
  yield* Effect.annotateCurrentSpan({ service: options.service, port: options.port })
  const emulator = yield* EmulatorsCli.emulators[options.service]({
    ...options.options,
    port: options.port,
    ...Option.match(options.faults, { onNone: () => ({}), onSome: (faults) => ({ faults }) }),
    ...Option.match(options.seed, { onNone: () => ({}), onSome: (seed) => ({ seed }) })
  })
  if (options.json) {
    yield* Console.log(JSON.stringify({ service: emulator.service, url: emulator.url, port: emulator.port }))
  } else {
    yield* Console.log(`${emulator.service} emulator listening on ${emulator.url}`)
    yield* Console.log(
      `faults: ${Option.getOrElse(options.faults, () => "none")}; stats at ${emulator.url}/_emulator/stats; ` +
        `Ctrl-C to stop`
    )
  }
  return yield* Effect.never.pipe(
    Effect.onInterrupt(() =>
      options.json ? Effect.void : Effect.flatMap(emulator.stats, (stats) => Console.log(summary(stats)))
    )
  )
}, Effect.scoped)

const jsonObject = (text: string) => {
  const invalid = ValidationError.invalidValue(
    HelpDoc.p(`--options must be a JSON object such as '{"capacity":2}', got ${text}`)
  )
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? Effect.succeed(value as Record<string, unknown>)
      : Effect.fail(invalid)
  } catch {
    return Effect.fail(invalid)
  }
}

/**
 * `bulwark emulate …`.
 *
 * @since 0.1.0
 * @category Commands
 */
export const command = Command.make(
  "emulate",
  {
    service: Args.choice(services.map((service) => [service, service]), { name: "SERVICE" }).pipe(
      Args.withDescription("The service to emulate: orpheus, ollama, openai or github.")
    ),
    port: SharedOptions.port("The port on 127.0.0.1 (default 0: any free port, printed at start).", 0),
    faults: Options.text("faults").pipe(
      Options.withPseudoName("SPEC"),
      Options.withDescription(
        `The fault timeline, e.g. "seed=7; status=503@5s-15s; latency=20ms..80ms" (see docs/emulators.md).`
      ),
      Options.optional
    ),
    seed: Options.integer("seed").pipe(
      Options.withPseudoName("N"),
      Options.filterMap(
        (seed) => (seed >= 0 && seed <= 2 ** 32 - 1 ? Option.some(seed) : Option.none()),
        "--seed must be a whole number from 0 to 4294967295"
      ),
      Options.withDescription("Seeds the synthetic outputs and service times (default 0)."),
      Options.optional
    ),
    options: Options.text("options").pipe(
      Options.withPseudoName("JSON"),
      Options.withDescription(`The emulator's own options as a JSON object, e.g. '{"capacity":2}'.`),
      Options.withDefault("{}"),
      Options.mapEffect(jsonObject)
    ),
    json: Options.boolean("json").pipe(
      Options.withDescription(`Print {"service","url","port"} as one JSON line once listening (for scripts).`)
    )
  },
  run
).pipe(
  Command.withDescription("Run an emulator of Orpheus, Ollama, OpenAI or GitHub in the foreground until Ctrl-C.")
)
