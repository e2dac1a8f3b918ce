/**
 * Readers of the standard OTEL_* variables. Each is read as text and checked
 * here, so a bad value is a ConfigError naming the variable (Effect's
 * `Config.boolean` / `Config.integer` would accept "yes" or "1e3" and the
 * OpenTelemetry SDK would drop a malformed list without a word).
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as KeyValues from "./keyValues.js"

/** A variable that may be unset (`undefined` then). An empty value counts as unset, as the specification says. */
export const optional = <A>(name: string, parse: (text: string) => Either.Either<A, string>): Config.Config<
  A | undefined
> =>
  Config.map(
    Config.option(
      Config.mapOrFail(Config.string(name), (text) =>
        text.trim() === ""
          ? Either.right(undefined)
          : Either.mapLeft(parse(text.trim()), (reason) => ConfigError.InvalidData([], reason)))
    ),
    (value) => Option.getOrUndefined(value)
  )

/** `true` / `false`, any case. */
export const parseBoolean = (text: string): Either.Either<boolean, string> => {
  const lower = text.toLowerCase()
  return lower === "true"
    ? Either.right(true)
    : lower === "false"
    ? Either.right(false)
    : Either.left(`Expected true or false, got "${text}"`)
}

/** An absolute http(s) URL, as given (its path is kept: a signal endpoint is used as is). */
export const parseUrl = (text: string): Either.Either<string, string> => {
  const parsed = Either.try(() => new URL(text))
  return Either.isRight(parsed) && (parsed.right.protocol === "http:" || parsed.right.protocol === "https:")
    ? Either.right(parsed.right.href)
    : Either.left(`Expected an http(s) URL, got "${text}"`)
}

/** A whole number in [min, max]. */
export const parseInteger = (min: number, max = Number.MAX_SAFE_INTEGER) => (text: string) =>
  /^\d+$/.test(text) && Number(text) >= min && Number(text) <= max
    ? Either.right(Number(text))
    : Either.left(`Expected a whole number in [${min}, ${max}], got "${text}"`)

/** One of `choices`, any case. */
export const parseChoice = <const A extends string>(choices: ReadonlyArray<A>) => (text: string) => {
  const lower = text.toLowerCase() as A
  return choices.includes(lower)
    ? Either.right(lower)
    : Either.left(`Expected one of ${choices.join(", ")}, got "${text}"`)
}

/** The `key=value,...` list of resource attributes. */
export const parseAttributes = (text: string) => KeyValues.parse(text, { secret: false })

/** The `key=value,...` list of headers: a secret, kept out of errors and logs. */
export const parseHeaders = (text: string) =>
  Either.map(KeyValues.parse(text, { secret: true }), (headers) => Redacted.make(headers))

/**
 * The resource from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES alone, laid
 * over `options` (what a Prometheus endpoint needs for its `target_info`).
 */
export const resource = <
  A extends {
    readonly serviceName?: string | undefined
    readonly serviceVersion?: string | undefined
    readonly attributes?: Readonly<Record<string, string>> | undefined
  }
>(options: A): Config.Config<A> =>
  Config.map(
    Config.all({
      serviceName: optional("OTEL_SERVICE_NAME", Either.right),
      attributes: optional("OTEL_RESOURCE_ATTRIBUTES", parseAttributes)
    }),
    (env) => {
      const serviceName = env.serviceName ?? env.attributes?.["service.name"]
      const serviceVersion = env.attributes?.["service.version"]
      return {
        ...options,
        ...(serviceName === undefined ? {} : { serviceName }),
        ...(serviceVersion === undefined ? {} : { serviceVersion }),
        ...(env.attributes === undefined ? {} : { attributes: { ...options.attributes, ...env.attributes } })
      }
    }
  )

/** The OTLP/HTTP encodings this package sends, as the specification spells them. */
export const protocols = ["http/protobuf", "http/json"] as const

/** `http/protobuf` or `http/json`; `grpc` is refused by name, so it is not taken for a typo. */
export const parseProtocol = (text: string): Either.Either<typeof protocols[number], string> =>
  text === "http/protobuf" || text === "http/json"
    ? Either.right(text)
    : Either.left(
      text === "grpc"
        ? "Expected http/protobuf or http/json: @bulwark/telemetry has no gRPC exporter " +
          "(a collector takes OTLP/HTTP on port 4318)"
        : `Expected http/protobuf or http/json, got "${text}"`
    )
