/**
 * The demo's world: an OpenAI emulator and a GitHub emulator in this
 * process, each with a rate-limit storm on its fault timeline, and the
 * clients pointed at them. Times in a fault spec count from the emulator's
 * start, which is (within milliseconds) when the jobs are submitted.
 *
 * The storm, by default:
 *
 * - OpenAI answers 429 for the first second, then 502 until 3 s: every reply
 *   is retried by the LLM client (layer 1) until it gives up, and the job is
 *   re-queued (layer 3);
 * - GitHub answers 503 until 5 s: the installation-token exchange waits out
 *   its Retry-After (layer 1);
 * - GitHub allows 2 comments per second (its secondary rate limit, 80 per
 *   minute on github.com): the comments posted together are retried after
 *   GitHub's `retry-after` (layer 2).
 *
 * The LLM's backoff is shrunk for this run (100 ms to 1 s instead of the
 * seed's 1 s to 60 s: with the seed's numbers the demo would last minutes),
 * and its circuit breaker is off. The breaker the client adds by default (the
 * seed lists one under "Future Improvements") counts outages only, so the
 * 429s do not open it, but the 502 window is an outage: five 502s in a row
 * open it about 1.4 s in, it stays open its 60 s, and every job waits for it
 * to half-open, so the run takes about 64 s instead of 6 (`test/Storm.test.ts`
 * checks that it opens). Everything else keeps the seed's numbers, as a run
 * against real endpoints does (breaker included).
 *
 * @since 0.1.0
 */
import { GitHub, GitHubAppToken, Llm } from "@bulwark/clients"
import { GitHubEmulator, OpenAiEmulator } from "@bulwark/emulators"
import { Duration, Effect, Layer, Redacted } from "effect"
import * as crypto from "node:crypto"
import * as Issues from "./Issues.js"

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** The OpenAI emulator's fault timeline. Default {@link defaults}.openAiFaults. */
  readonly openAiFaults?: string | undefined
  /** The GitHub emulator's fault timeline. Default {@link defaults}.gitHubFaults. */
  readonly gitHubFaults?: string | undefined
  /** GitHub's secondary limit on comments. Default 2 per second. */
  readonly comments?: { readonly limit: number; readonly window: Duration.DurationInput } | undefined
  /** The repositories that exist (others answer 404). Default: those of the bundled issues. */
  readonly repos?: ReadonlyArray<GitHubEmulator.Repo> | undefined
  /** Seeds the emulators' words, ids and draws. Default 1. */
  readonly seed?: number | undefined
  /** The LLM policy over the client's defaults. Default {@link llmPolicy}. */
  readonly llmPolicy?: Llm.Options["policy"]
}

/**
 * @since 0.1.0
 * @category Defaults
 */
export const defaults = {
  openAiFaults: "status=429@0s-1s; status=502@1s-3s",
  gitHubFaults: "status=503@0s-5s",
  comments: { limit: 2, window: "1 second" },
  seed: 1,
  appId: 42,
  installationId: 7,
  apiKey: "sk-issue-runner-demo"
} as const

/**
 * The LLM policy of the emulated run: the seed's 5 attempts, with the waits
 * shrunk so that the demo lasts seconds, and no breaker (the storm's 502s
 * would hold the default one open for 60 s: see the module's header).
 *
 * @since 0.1.0
 * @category Defaults
 */
export const llmPolicy = {
  retry: { base: "100 millis", maxDelay: "1 second" },
  circuitBreaker: false
} as const

/**
 * The repositories the GitHub emulator needs for `issues` to exist.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const reposFor = (issues: ReadonlyArray<Issues.Issue>): ReadonlyArray<GitHubEmulator.Repo> => {
  const repos = new Map<string, GitHubEmulator.Repo>()
  for (const issue of issues) {
    const key = `${issue.owner}/${issue.repo}`
    const count = Math.max(issue.number, repos.get(key)?.issues ?? 1)
    repos.set(key, { owner: issue.owner, name: issue.repo, issues: count })
  }
  return [...repos.values()]
}

/**
 * The LLM client on an OpenAI emulator with the storm; the emulator is in
 * the context too (its stats, its requests).
 *
 * @since 0.1.0
 * @category Layers
 */
export const llmLayer = (options: Options = {}) =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({
        apiKey: defaults.apiKey,
        faults: options.openAiFaults ?? defaults.openAiFaults,
        seed: options.seed ?? defaults.seed
      })
      return Layer.merge(
        Llm.layer({
          baseUrl: `${emulator.url}/v1`,
          apiKey: Redacted.make(defaults.apiKey),
          policy: options.llmPolicy ?? llmPolicy
        }),
        Layer.succeed(OpenAiEmulator.OpenAiEmulator, emulator)
      )
    })
  )

/**
 * A fresh RSA key pair for the app, PEM: the emulator verifies the JWTs with
 * the public key, the token provider signs them with the private one.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const appKeys: Effect.Effect<{ readonly publicKey: string; readonly privateKey: Redacted.Redacted<string> }> =
  Effect.sync(() => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
    return {
      publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
      privateKey: Redacted.make(privateKey.export({ type: "pkcs8", format: "pem" }).toString())
    }
  })

/**
 * The GitHub client and its token provider on a GitHub emulator with the
 * storm; the emulator is in the context too (its comments, its stats).
 *
 * @since 0.1.0
 * @category Layers
 */
export const gitHubLayer = (options: Options = {}) => Layer.unwrapEffect(Effect.map(appKeys, gitHubWith(options)))

const gitHubWith = (options: Options) => (keys: Effect.Effect.Success<typeof appKeys>) =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const emulator = yield* GitHubEmulator.make({
        appId: defaults.appId,
        publicKey: keys.publicKey,
        installations: [{ id: defaults.installationId }],
        repos: options.repos ?? reposFor(Issues.bundled),
        secondary: { content: [options.comments ?? defaults.comments] },
        faults: options.gitHubFaults ?? defaults.gitHubFaults,
        seed: options.seed ?? defaults.seed
      })
      const tokens = GitHubAppToken.layer({
        appId: defaults.appId,
        privateKey: keys.privateKey,
        installationId: defaults.installationId,
        apiUrl: emulator.url
      })
      return Layer.mergeAll(
        GitHub.layer({ apiUrl: emulator.url }).pipe(Layer.provideMerge(tokens)),
        Layer.succeed(GitHubEmulator.GitHubEmulator, emulator)
      )
    })
  )

/**
 * Both emulated services. The app's key is made before either emulator
 * starts, so that their fault timelines start together.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}) =>
  Layer.unwrapEffect(Effect.map(appKeys, (keys) => Layer.merge(llmLayer(options), gitHubWith(options)(keys))))

/**
 * What the storm is, in words, for the top of the demo's output.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const describe = (options: Options = {}): ReadonlyArray<string> => {
  const comments = options.comments ?? defaults.comments
  const faults = (spec: string) => spec.trim() === "" ? "none" : spec
  return [
    `OpenAI emulator faults: ${faults(options.openAiFaults ?? defaults.openAiFaults)}`,
    `GitHub emulator faults: ${faults(options.gitHubFaults ?? defaults.gitHubFaults)}; ` +
    `at most ${comments.limit} comment${comments.limit === 1 ? "" : "s"} per ${
      Duration.format(Duration.decode(comments.window))
    } (secondary rate limit)`
  ]
}
