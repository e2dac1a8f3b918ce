/**
 * The emulated lab: in-process Ollama servers that koderz runs against when
 * no real Ollama is named (`--ollama-url`, `OLLAMA_HOST`).
 *
 * The demo lab has two servers because the emulator's timing is per server,
 * not per model: `workstation` (2 slots, a queue of 1, fast tokens) serves
 * the healthy models and fills its queue under a batch of 4 requests, so
 * some get Ollama's 503 "server busy"; `bigbox` serves `codellama:70b` at
 * 150 ms a token, so every answer (8 tokens at least) outlasts the lab's
 * 1 s timeout. A model neither server has is sent to the first one, which
 * answers 404 as Ollama does.
 *
 * @since 0.1.0
 */
import * as OllamaEmulator from "@bulwark/emulators/OllamaEmulator"
import type { Duration, Scope } from "effect"
import { Context, Effect, Layer, Schema } from "effect"

/**
 * One emulated server.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ServerSpec {
  readonly name: string
  readonly emulator: OllamaEmulator.Options
}

/**
 * A server that listens.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Server {
  readonly name: string
  readonly url: string
  /** Normalised names (`llama3.2` is `llama3.2:latest`). */
  readonly models: ReadonlyArray<string>
  /** One line for the run's header. */
  readonly description: string
}

/**
 * What a run against the lab uses when no flag says otherwise: its time is
 * scaled down from the seed's (300 s timeouts, 2 s backoff) so the demo
 * ends in seconds.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Defaults {
  /** The attempt timeout, for every model (`--timeout`). */
  readonly timeout: Duration.DurationInput
  /** Problems sent at once (`--concurrency`). */
  readonly concurrency: number
  /** Backoff, under `OLLAMA_RETRY_BASE_DELAY` / `OLLAMA_RETRY_MAX_DELAY`. */
  readonly retry: { readonly base: Duration.DurationInput; readonly maxDelay: Duration.DurationInput }
  /** How long the next model waits for capacity after an overloaded one. */
  readonly capacityWait: Duration.DurationInput
  /** The models benchmarked when no `--local-model` is given. */
  readonly models: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Profile extends Defaults {
  readonly servers: readonly [ServerSpec, ...Array<ServerSpec>]
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service extends Defaults {
  /** Starts the servers (or hands out servers already running) for the life of the scope. */
  readonly start: Effect.Effect<readonly [Server, ...Array<Server>], LabFailed, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category Tags
 */
export class Lab extends Context.Tag("@bulwark/example-koderz/Lab")<Lab, Service>() {}

/**
 * An emulated server that could not start (a bad option, a port in use).
 *
 * @since 0.1.0
 * @category Errors
 */
export class LabFailed extends Schema.TaggedError<LabFailed>()("LabFailed", {
  server: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `the emulated Ollama server "${this.server}" did not start: ${this.detail}`
  }
}

/**
 * The demo: a healthy model on a busy workstation, a slow 70B model, and a
 * model that was never pulled.
 *
 * @since 0.1.0
 * @category Profiles
 */
export const demo: Profile = {
  servers: [
    {
      name: "workstation",
      emulator: {
        models: ["qwen2.5-coder:7b", "llama3.2:3b"],
        numParallel: 2,
        maxQueue: 1,
        tokenLatency: "4ms..8ms",
        loadTime: "100ms",
        seed: 2
      }
    },
    {
      name: "bigbox",
      emulator: {
        models: [{ name: "codellama:70b", size: 38_862_393_421, parameterSize: "69B" }],
        numParallel: 1,
        maxQueue: 8,
        tokenLatency: "150ms",
        loadTime: "300ms",
        seed: 70
      }
    }
  ],
  models: ["qwen2.5-coder:7b", "codellama:70b", "deepseek-coder:33b"],
  timeout: "1 second",
  concurrency: 4,
  retry: { base: "200 millis", maxDelay: "2 seconds" },
  capacityWait: "2 seconds"
}

/**
 * `name[:tag]` with the tag defaulted to `latest`, as Ollama compares names.
 *
 * @since 0.1.0
 * @category Routing
 */
export const normalize = (model: string): string => {
  const name = model.trim().toLowerCase()
  return name.indexOf(":", name.lastIndexOf("/") + 1) === -1 ? `${name}:latest` : name
}

/**
 * The server that has the model, else the first (which answers 404).
 *
 * @since 0.1.0
 * @category Routing
 */
export const route = (servers: readonly [Server, ...Array<Server>], model: string): Server =>
  servers.find((server) => server.models.includes(normalize(model))) ?? servers[0]

const describe = (spec: ServerSpec, url: string, models: ReadonlyArray<string>) => {
  const options = spec.emulator
  const slots = options.numParallel ?? OllamaEmulator.defaults.numParallel
  const queue = options.maxQueue ?? OllamaEmulator.defaults.maxQueue
  const tokens = options.tokenLatency ?? OllamaEmulator.defaults.tokenLatency
  return `${spec.name} ${url}: ${models.join(", ")} — ${slots} slot(s), queue ${queue}, ${tokens} per token`
}

const modelName = (model: OllamaEmulator.ModelOption) => normalize(typeof model === "string" ? model : model.name)

/**
 * A lab that starts the profile's emulators when a run needs them.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (profile: Profile): Service => {
  const startOne = (spec: ServerSpec) =>
    OllamaEmulator.make(spec.emulator).pipe(
      Effect.mapError((error) => new LabFailed({ server: spec.name, detail: error.message })),
      Effect.map((emulator): Server => {
        const models = (spec.emulator.models ?? ["llama3.2:3b", "qwen2.5-coder:7b"]).map(modelName)
        return { name: spec.name, url: emulator.url, models, description: describe(spec, emulator.url, models) }
      })
    )
  const [first, ...rest] = profile.servers
  return {
    ...profile,
    start: Effect.all([startOne(first), Effect.forEach(rest, startOne)]).pipe(
      Effect.map(([head, tail]) => [head, ...tail] as const)
    )
  }
}

/**
 * A lab over servers that already listen (a test's emulators, whose stats
 * it reads afterwards).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromServers = (
  servers: readonly [Server, ...Array<Server>],
  defaults: Defaults
): Service => ({ ...defaults, start: Effect.succeed(servers) })

/**
 * @since 0.1.0
 * @category Layers
 */
export const layer = (profile: Profile = demo): Layer.Layer<Lab> => Layer.succeed(Lab, make(profile))
