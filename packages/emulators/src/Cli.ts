/**
 * The command line of the `bulwark-emulate` process:
 *
 * ```
 * bulwark-emulate <orpheus|ollama|openai|github> [--port N] [--faults SPEC] [--seed N] [--options JSON]
 * ```
 *
 * It prints one JSON line `{"service", "url", "port"}` on stdout once the
 * emulator listens (so a script can read the port of `--port 0`) and serves
 * until it is interrupted. `--options` takes the emulator's own options as a
 * JSON object; they are validated by the emulator like any other.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as GitHubEmulator from "./GitHubEmulator.js"
import * as OllamaEmulator from "./OllamaEmulator.js"
import * as OpenAiEmulator from "./OpenAiEmulator.js"
import * as OrpheusEmulator from "./OrpheusEmulator.js"

/**
 * What the command line asks for.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Invocation {
  readonly service: string
  readonly port: number
  readonly faults: string | undefined
  readonly seed: number | undefined
  readonly options: Readonly<Record<string, unknown>>
}

/**
 * A command line that cannot be run; says what is wrong and how to use it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidArguments extends Schema.TaggedError<InvalidArguments>()("InvalidArguments", {
  reason: Schema.String
}) {
  override get message() {
    return `${this.reason}\n\n${usage}`
  }
}

/**
 * @since 0.1.0
 * @category Usage
 */
export const usage = [
  "usage: bulwark-emulate <service> [--port N] [--faults SPEC] [--seed N] [--options JSON]",
  "",
  "  service      orpheus, ollama, openai or github",
  "  --port N     port on 127.0.0.1 (default 0: any free port)",
  "  --faults     fault timeline, e.g. \"seed=7; status=503@5s-15s; latency=20ms..80ms\"",
  "  --seed N     seed of the synthetic outputs and service times (default 0)",
  "  --options    the emulator's own options as a JSON object, e.g. '{\"capacity\":2}'",
  "",
  "Prints {\"service\",\"url\",\"port\"} as one JSON line when listening; stops on SIGINT / SIGTERM."
].join("\n")

const flags = ["--port", "--faults", "--seed", "--options"] as const

const wholeNumber = (flag: string, text: string, max: number): Either.Either<number, InvalidArguments> =>
  /^\d+$/.test(text) && Number(text) <= max
    ? Either.right(Number(text))
    : Either.left(new InvalidArguments({ reason: `${flag} must be a whole number 0-${max}, got "${text}"` }))

/**
 * Reads the arguments after the program name.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parse = (
  args: ReadonlyArray<string>,
  services: ReadonlyArray<string>
): Either.Either<Invocation, InvalidArguments> =>
  Either.gen(function*() {
    const refuse = (reason: string) => Either.left(new InvalidArguments({ reason }))
    const values = new Map<string, string>()
    const positional: Array<string> = []
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!
      const [flag, inline] = arg.startsWith("--") ? arg.split(/=(.*)/s, 2) : [arg, undefined]
      if (!arg.startsWith("--")) {
        positional.push(arg)
        continue
      }
      if (!(flags as ReadonlyArray<string>).includes(flag!)) return yield* refuse(`unknown flag ${flag}`)
      if (values.has(flag!)) return yield* refuse(`${flag} given twice`)
      const value = inline ?? args[++i]
      if (value === undefined) return yield* refuse(`${flag} needs a value`)
      values.set(flag!, value)
    }
    if (positional.length !== 1) return yield* refuse("name exactly one service")
    const service = positional[0]!
    if (!services.includes(service)) {
      return yield* refuse(`unknown service "${service}" (one of ${services.join(", ")})`)
    }
    const port = values.has("--port") ? yield* wholeNumber("--port", values.get("--port")!, 65535) : 0
    const seed = values.has("--seed") ? yield* wholeNumber("--seed", values.get("--seed")!, 2 ** 32 - 1) : undefined
    let options: Record<string, unknown> = {}
    if (values.has("--options")) {
      const parsed = Either.try(() => JSON.parse(values.get("--options")!) as unknown)
      if (
        Either.isLeft(parsed) || typeof parsed.right !== "object" || parsed.right === null ||
        Array.isArray(parsed.right)
      ) {
        return yield* refuse(`--options must be a JSON object, got ${values.get("--options")}`)
      }
      options = parsed.right as Record<string, unknown>
    }
    return { service, port, faults: values.get("--faults"), seed, options }
  })

/**
 * The emulators the command can start, by the name it is given.
 *
 * @since 0.1.0
 * @category Running
 */
export const emulators = {
  orpheus: (options: Record<string, unknown>) => OrpheusEmulator.make(options as OrpheusEmulator.Options),
  ollama: (options: Record<string, unknown>) => OllamaEmulator.make(options as OllamaEmulator.Options),
  openai: (options: Record<string, unknown>) => OpenAiEmulator.make(options as OpenAiEmulator.Options),
  github: (options: Record<string, unknown>) => GitHubEmulator.make(options as GitHubEmulator.Options)
} as const

/**
 * Runs the command: starts the emulator, prints where it listens, serves
 * until interrupted. Every refusal (arguments, fault spec, options, a port
 * in use) is a typed failure with a message that says what to fix.
 *
 * @since 0.1.0
 * @category Running
 */
export const run = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const invocation = yield* parse(args, Object.keys(emulators))
    const emulator = yield* emulators[invocation.service as keyof typeof emulators]({
      ...invocation.options,
      port: invocation.port,
      ...(invocation.faults === undefined ? {} : { faults: invocation.faults }),
      ...(invocation.seed === undefined ? {} : { seed: invocation.seed })
    })
    yield* Console.log(JSON.stringify({ service: emulator.service, url: emulator.url, port: emulator.port }))
    return yield* Effect.never
  }).pipe(Effect.scoped)
