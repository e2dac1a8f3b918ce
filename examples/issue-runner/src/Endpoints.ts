/**
 * Real endpoints or the emulators, per service, from the environment. The
 * LLM is real when `LLM_BASE_URL` or `LLM_API_KEY` is set, GitHub when
 * `GITHUB_API_URL` or `GITHUB_APP_ID` is set; each is then configured by its
 * client's `layerConfig` (every `LLM_*`, `GITHUB_*` and `GITHUB_APP_TOKEN_*`
 * variable, with the seed's numbers as defaults). A service left unset runs
 * against its emulator, with the storm of {@link Storm}.
 *
 * @since 0.1.0
 */
import { GitHub, type GitHubAppToken, Llm } from "@bulwark/clients"
import type { Errors } from "@bulwark/core"
import type { Emulator, Faults } from "@bulwark/emulators"
import { FetchHttpClient, type HttpClient, type HttpServerError } from "@effect/platform"
import { Config, type ConfigError, Effect, Layer, Option } from "effect"
import * as Storm from "./Storm.js"

/**
 * @since 0.1.0
 * @category Models
 */
export type Target = "real" | "emulated"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Targets {
  readonly llm: Target
  readonly github: Target
}

const isSet = (name: string) => Effect.map(Config.option(Config.string(name)), Option.isSome)

/**
 * What building the clients can fail with: a bad variable, a policy the
 * client refuses, an emulator that cannot start.
 *
 * @since 0.1.0
 * @category Models
 */
export type Failure =
  | ConfigError.ConfigError
  | Errors.InvalidPolicy
  | Faults.InvalidFaultSpec
  | Emulator.InvalidEmulatorOption
  | HttpServerError.ServeError

/**
 * Reads which services are real.
 *
 * @since 0.1.0
 * @category Config
 */
export const targets: Effect.Effect<Targets> = Effect.gen(function*() {
  const llm = (yield* isSet("LLM_BASE_URL")) || (yield* isSet("LLM_API_KEY"))
  const github = (yield* isSet("GITHUB_API_URL")) || (yield* isSet("GITHUB_APP_ID"))
  return { llm: llm ? "real" : "emulated", github: github ? "real" : "emulated" } as const
}).pipe(Effect.orDie)

/**
 * The LLM and GitHub clients for `targets`, over `fetch`.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  targets: Targets,
  storm: Storm.Options = {}
): Layer.Layer<Llm.Llm | GitHub.GitHub | GitHubAppToken.GitHubAppToken, Failure> => {
  type Clients = Llm.Llm | GitHub.GitHub | GitHubAppToken.GitHubAppToken
  const llm: Layer.Layer<Llm.Llm, Failure, HttpClient.HttpClient> = targets.llm === "real"
    ? Llm.layerConfig()
    : Storm.llmLayer(storm)
  const github: Layer.Layer<GitHub.GitHub | GitHubAppToken.GitHubAppToken, Failure, HttpClient.HttpClient> =
    targets.github === "real" ? GitHub.layerConfig() : Storm.gitHubLayer(storm)
  // both emulated: one layer, so that both storms start at the same moment
  const clients: Layer.Layer<Clients, Failure, HttpClient.HttpClient> =
    targets.llm === "emulated" && targets.github === "emulated" ? Storm.layer(storm) : Layer.merge(llm, github)
  return clients.pipe(Layer.provide(FetchHttpClient.layer))
}

/**
 * Where each service is, in words.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const describe = (targets: Targets, storm: Storm.Options = {}): ReadonlyArray<string> => {
  const [openAi, gitHub] = Storm.describe(storm)
  return [
    targets.llm === "real" ? "LLM: real endpoint (LLM_BASE_URL / LLM_API_KEY)" : `LLM: ${openAi}`,
    targets.github === "real" ? "GitHub: real endpoint (GITHUB_API_URL / GITHUB_APP_ID)" : `GitHub: ${gitHub}`
  ]
}
