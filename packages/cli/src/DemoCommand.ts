/**
 * `bulwark demo`: the tour of Bulwark, in under a minute (about 8 seconds by
 * default). It starts the emulators in-process, runs seed 000's composition
 * workflow for a batch of jobs on a fresh SQLite store, with a heartbeat
 * service (`/heartbeat` and `/metrics` on a free port) whose breaker rides out
 * a storm next to it, and shows it live in a terminal (plain log lines in a
 * pipe or CI). It ends with a summary table and exits 0 only if every job
 * succeeded (130 when stopped by Ctrl-C).
 *
 * ```
 * bulwark demo
 * bulwark demo --jobs 20 --seed 7 --store sqlite:/tmp/demo.db --plain
 * ```
 *
 * See `Demo` for the library behind it.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Demo from "./Demo.js"

/**
 * What `bulwark demo` was asked for.
 *
 * @since 0.1.0
 * @category Models
 */
export interface DemoOptions {
  readonly jobs: number
  readonly seed: number
  readonly store: string
  readonly plain: boolean
}

/**
 * The view for this process: live only on a terminal outside CI, unless
 * `--plain` asks for lines.
 *
 * @since 0.1.0
 * @category Running
 */
export const viewFor = (
  options: { readonly plain: boolean; readonly isTTY: boolean; readonly ci: boolean }
): Demo.View => options.plain || !options.isTTY || options.ci ? "plain" : "live"

/**
 * Runs the demo as the command line asked.
 *
 * @since 0.1.0
 * @category Running
 */
export const run = Effect.fn("DemoCommand.run")(function*(options: DemoOptions) {
  const ci = yield* Config.option(Config.string("CI")).pipe(Effect.orElseSucceed(() => Option.none<string>()))
  const view = viewFor({
    plain: options.plain,
    isTTY: process.stdout.isTTY === true,
    ci: Option.isSome(ci) && ci.value !== "" && ci.value !== "false" && ci.value !== "0"
  })
  yield* Demo.run({ jobs: options.jobs, seed: options.seed, store: options.store, view })
})

const whole = (name: string, min: number, max: number, description: string, fallback: number) =>
  Options.integer(name).pipe(
    Options.withPseudoName("N"),
    Options.filterMap(
      (n) => (n >= min && n <= max ? Option.some(n) : Option.none()),
      `--${name} must be a whole number from ${min} to ${max}`
    ),
    Options.withDescription(description),
    Options.withDefault(fallback)
  )

/**
 * `bulwark demo [--jobs N] [--seed N] [--store sqlite:path] [--plain]`.
 *
 * @since 0.1.0
 * @category Commands
 */
export const command = Command.make(
  "demo",
  {
    jobs: whole("jobs", 1, 100, `Compositions to run (default ${Demo.defaults.jobs}).`, Demo.defaults.jobs),
    seed: whole(
      "seed",
      0,
      2 ** 32 - 1,
      `Seeds the emulators' outputs, timings and faults and every jitter (default ${Demo.defaults.seed}).`,
      Demo.defaults.seed
    ),
    store: Options.text("store").pipe(
      Options.withPseudoName("URL"),
      Options.withDescription(
        `The job store, fresh for every run: sqlite:path (default ${Demo.defaults.store}). ` +
          `An existing file is replaced only if it holds nothing but demo jobs.`
      ),
      Options.withDefault(Demo.defaults.store)
    ),
    plain: Options.boolean("plain").pipe(
      Options.withDescription("Plain log lines instead of the live view (the default in a pipe or when CI is set).")
    )
  },
  run
).pipe(
  Command.withDescription(
    "Run the Bulwark demo: durable Orpheus jobs sharing busy GPUs, a flaky server and a heartbeat service " +
      "whose breaker rides out a storm, all in-process; ends with a summary table, exit 0 only if every job succeeded."
  )
)
