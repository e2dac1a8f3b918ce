/**
 * One Ollama client per benchmarked model, built by `Ollama.layerConfig`
 * with the command line over the environment: `--max-retries` and
 * `--ollama-url` win over `OLLAMA_RETRY_MAX_ATTEMPTS` and `OLLAMA_HOST`,
 * which win over the lab's scaled-down backoff and timeout, which win over
 * the client's seed-002 defaults.
 *
 * Each client counts what went over the wire for `/api/generate` — every
 * attempt by its `x-request-id` (the same on every retry of one call), its
 * status, or `timeout` when the attempt timeout cut it — so the report can
 * say how many retries a problem took and why, which the seed lists as a
 * "future enhancement".
 *
 * @since 0.1.0
 */
import * as Ollama from "@bulwark/clients/Ollama"
import * as ConfigErrors from "@bulwark/core/ConfigErrors"
import type * as Errors from "@bulwark/core/Errors"
import * as ResilientClient from "@bulwark/http/ResilientClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type { Duration, Scope } from "effect"
import { Cause, ConfigError, ConfigProvider, Context, Effect, Exit, Layer, Schema } from "effect"

/**
 * @since 0.1.0
 * @category Models
 */
export interface ModelClient {
  readonly model: string
  readonly ollama: Ollama.Service
  /** Calls the policy makes at most for one generation. */
  readonly maxAttempts: number
  /** The outcome of each attempt of the call with this request id: a status, `timeout` or `error`. */
  readonly attemptsOf: (requestId: string) => Effect.Effect<ReadonlyArray<string>>
  /** Every `/api/generate` attempt so far. */
  readonly totals: Effect.Effect<{ readonly requests: number; readonly busy: number; readonly timeouts: number }>
}

/**
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** `--ollama-url`, or the lab server of the model. */
  readonly baseUrl?: string | undefined
  /** `--max-retries`. */
  readonly maxRetries?: number | undefined
  /** The lab's backoff, under the environment. */
  readonly retry?: { readonly base: Duration.DurationInput; readonly maxDelay: Duration.DurationInput } | undefined
  /**
   * The lab's attempt timeout for models of every size, under the
   * environment (`OLLAMA_TIMEOUT`, `OLLAMA_TIMEOUT_SMALL` / `_LARGE`,
   * `OLLAMA_MODEL_TIMEOUTS`) and under `--timeout`, which each call passes.
   */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * A variable (or the flag that set it) the client cannot use, with what is
 * wrong with it: `--ollama-url: Expected host:port or a URL: …`.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidSetting extends Schema.TaggedError<InvalidSetting>()("InvalidSetting", {
  detail: Schema.String
}) {
  override get message() {
    return this.detail
  }

  /** Each problem of `error`, naming its variable, or the flag in `names` that set it. */
  static fromConfigError(error: ConfigError.ConfigError, names: ReadonlyMap<string, string> = new Map()) {
    return new InvalidSetting({ detail: ConfigErrors.describe(error, names) })
  }
}

const outcome = (exit: Exit.Exit<{ readonly status: number }, unknown>): string =>
  Exit.match(exit, {
    onSuccess: (response) => String(response.status),
    // the attempt timeout interrupts the attempt: the request was cut, not answered
    onFailure: (cause) => Cause.isInterruptedOnly(cause) ? "timeout" : "error"
  })

/**
 * The client of one model.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (
  model: string,
  options: Options
): Effect.Effect<
  ModelClient,
  InvalidSetting | Errors.InvalidPolicy,
  HttpClient.HttpClient | Scope.Scope
> =>
  Effect.gen(function*() {
    const attempts = new Map<string, Array<string>>()
    const totals = { requests: 0, busy: 0, timeouts: 0 }
    const record = (id: string, what: string) =>
      Effect.sync(() => {
        const list = attempts.get(id)
        if (list === undefined) attempts.set(id, [what])
        else list.push(what)
        totals.requests++
        if (what === "503") totals.busy++
        if (what === "timeout") totals.timeouts++
      })
    const track = (client: HttpClient.HttpClient) =>
      HttpClient.transform(client, (effect, request) =>
        request.url.endsWith("/api/generate")
          ? Effect.onExit(
            effect,
            (exit) => record(request.headers[ResilientClient.headerNames.requestId] ?? "", outcome(exit))
          )
          : effect)

    const flags = new Map<string, string>()
    if (options.maxRetries !== undefined) flags.set("OLLAMA_RETRY_MAX_ATTEMPTS", String(options.maxRetries + 1))
    if (options.baseUrl !== undefined) flags.set("OLLAMA_HOST", options.baseUrl)
    // a bad value that came from a flag is named by the flag, as the user typed it
    // (--max-retries is checked by the command line before it gets here)
    const flagNames = new Map<string, string>(options.baseUrl === undefined ? [] : [["OLLAMA_HOST", "--ollama-url"]])
    const environment = yield* Effect.configProviderWith(Effect.succeed)
    const provider = ConfigProvider.fromMap(flags, { pathDelim: "_" }).pipe(ConfigProvider.orElse(() => environment))

    const { retry, timeout } = options
    const layer = Ollama.layerConfig({
      transformClient: track,
      policy: {
        ...(retry === undefined ? {} : { retry }),
        ...(timeout === undefined ? {} : { attemptTimeout: timeout })
      },
      ...(timeout === undefined ? {} : { timeouts: { small: timeout, large: timeout } })
    })
    const context = yield* Layer.build(layer).pipe(
      Effect.withConfigProvider(provider),
      Effect.mapError((error) =>
        ConfigError.isConfigError(error) ? InvalidSetting.fromConfigError(error, flagNames) : error
      )
    )
    const ollama = Context.get(context, Ollama.Ollama)
    return {
      model,
      ollama,
      maxAttempts: ollama.client.policy.layers.retry?.maxAttempts ?? 1,
      attemptsOf: (id) => Effect.sync(() => [...(attempts.get(id) ?? [])]),
      totals: Effect.sync(() => ({ ...totals }))
    }
  })
