import * as OllamaEmulator from "@bulwark/emulators/OllamaEmulator"
import * as CapturedConsole from "@bulwark/test-support/CapturedConsole"
import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { ConfigProvider, Effect, Layer, Logger } from "effect"
import * as Cli from "../../src/Cli.js"
import * as Lab from "../../src/Lab.js"
import * as Output from "../../src/Output.js"

export interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  /** The log lines as `Output.logger` writes them (the repeats it leaves out, left out). */
  readonly logs: ReadonlyArray<string>
}

/**
 * `koderz <args>` in this process, through `Cli.run`, over the given lab and
 * an environment of exactly `env` (never the machine's OLLAMA_* variables).
 */
export const runKoderz = (
  args: ReadonlyArray<string>,
  lab: Lab.Service,
  env: Readonly<Record<string, string>> = {}
) =>
  Effect.gen(function*() {
    const { console, stderr, stdout } = yield* CapturedConsole.make
    const logs: Array<string> = []
    const logger = Logger.make((options) => {
      if (!Output.isRepeat(options)) logs.push(Output.format(options))
    })
    const code = yield* Cli.run(args).pipe(
      Effect.withConsole(console),
      Effect.provide(
        Layer.mergeAll(
          NodeContext.layer,
          FetchHttpClient.layer,
          Layer.succeed(Lab.Lab, lab),
          Logger.replace(Logger.defaultLogger, logger)
        )
      ),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))
    )
    // A line per call, as the lines were joined before: no newline after the last.
    const lines = (text: string) => text.replace(/\n$/, "")
    return { code, stdout: lines(yield* stdout), stderr: lines(yield* stderr), logs } satisfies Result
  })

/** Small numbers: a test's run lasts a fraction of a second. */
export const fastDefaults: Lab.Defaults = {
  timeout: "2 seconds",
  concurrency: 1,
  retry: { base: "20 millis", maxDelay: "200 millis" },
  capacityWait: "1 second",
  models: []
}

/** An emulator serving `models`, and the lab server over it. */
export const server = (name: string, options: OllamaEmulator.Options & { readonly models: ReadonlyArray<string> }) =>
  Effect.map(OllamaEmulator.make(options), (emulator) => ({
    emulator,
    server: { name, url: emulator.url, models: options.models.map(Lab.normalize), description: name } as Lab.Server
  }))

/** The lines of one problem (`✓ KZ/3 …`), in order. */
export const problemLines = (stdout: string) => stdout.split("\n").filter((line) => /^ {2}[✓✗!] KZ\//.test(line))
