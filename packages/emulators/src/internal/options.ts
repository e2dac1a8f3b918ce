/**
 * The option checks every emulator shares. Each takes the option's name, the
 * value given (`unknown`: options also arrive as JSON from the command line,
 * so the declared type is no guarantee) and its default, and answers the value
 * to use or an `InvalidEmulatorOption` naming the service, the option and what
 * is wrong — never a crash, never a silent default.
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Emulator from "../Emulator.js"
import * as Faults from "../Faults.js"

type Checked<A> = Either.Either<A, Emulator.InvalidEmulatorOption>

/** A whole number in `[min, max]`, for checks whose message says more than the number. */
export const isWhole = (n: unknown, min: number, max = Number.MAX_SAFE_INTEGER): n is number =>
  typeof n === "number" && Number.isSafeInteger(n) && n >= min && n <= max

const isDuration = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n) && n >= 0

/** Whether every duration of a distribution is a finite number of milliseconds ≥ 0 (a parsed one always is). */
const validDistribution = (distribution: Faults.Distribution): boolean => {
  switch (distribution._tag) {
    case "Fixed":
      return isDuration(distribution.millis)
    case "Uniform":
      return isDuration(distribution.min) && isDuration(distribution.max) && distribution.min <= distribution.max
    case "Exponential":
      return isDuration(distribution.mean)
    case "Normal":
      return isDuration(distribution.mean) && isDuration(distribution.deviation)
    default:
      return false
  }
}

const show = (value: unknown) => typeof value === "string" ? JSON.stringify(value) : String(value)

/** The checks, bound to the service whose options they check. */
export const forService = (service: string) => {
  const invalid = (option: string, reason: string) => new Emulator.InvalidEmulatorOption({ service, option, reason })
  const refuse = <A = never>(option: string, reason: string): Checked<A> => Either.left(invalid(option, reason))

  /** A whole number in `[min, max]`. */
  const whole = (option: string, value: unknown, fallback: number, min: number, max?: number): Checked<number> => {
    const n = value ?? fallback
    return isWhole(n, min, max)
      ? Either.right(n)
      : refuse(option, `must be a whole number ${max === undefined ? `≥ ${min}` : `${min}-${max}`}, got ${show(n)}`)
  }

  /** A finite number ≥ 0. */
  const nonNegative = (option: string, value: unknown, fallback: number): Checked<number> => {
    const n = value ?? fallback
    return isDuration(n) ? Either.right(n) : refuse(option, `must be a finite number ≥ 0, got ${show(n)}`)
  }

  /** A number in [0, 1]. */
  const probability = (option: string, value: unknown, fallback: number): Checked<number> => {
    const p = value ?? fallback
    return typeof p === "number" && p >= 0 && p <= 1
      ? Either.right(p)
      : refuse(option, `must be a probability in [0, 1], got ${show(p)}`)
  }

  /** One of a closed set of values. */
  const oneOf = <const A extends string>(
    option: string,
    value: unknown,
    fallback: NoInfer<A>,
    allowed: ReadonlyArray<A>
  ): Checked<A> => {
    const v = value ?? fallback
    return (allowed as ReadonlyArray<unknown>).includes(v)
      ? Either.right(v as A)
      : refuse(option, `must be one of ${allowed.join(", ")}, got ${show(v)}`)
  }

  /** A non-empty string, when given. */
  const nonEmptyString = <F extends string | undefined>(option: string, value: unknown, fallback: F) => {
    const v = value ?? fallback
    return v === undefined || (typeof v === "string" && v !== "")
      ? Either.right(v as string | F)
      : refuse<string | F>(option, "must be a non-empty string")
  }

  /** A boolean, when given. */
  const boolean = <F extends boolean | undefined>(option: string, value: unknown, fallback: F) => {
    const v = value ?? fallback
    return v === undefined || typeof v === "boolean"
      ? Either.right(v as boolean | F)
      : refuse<boolean | F>(option, `must be a boolean, got ${show(v)}`)
  }

  /** A service-time distribution: a `Faults.parseDistribution` text, or a distribution already built. */
  const distribution = (
    option: string,
    value: string | Faults.Distribution | undefined,
    fallback: string
  ): Checked<Faults.Distribution> => {
    const given = value ?? fallback
    const parsed = typeof given === "string" ? Faults.parseDistribution(given) : Either.right(given)
    if (Either.isLeft(parsed)) return refuse(option, parsed.left)
    return validDistribution(parsed.right)
      ? Either.right(parsed.right)
      : refuse(option, "every duration of the distribution must be a finite number of milliseconds ≥ 0")
  }

  /** A duration in milliseconds, finite and at least (or, with `above`, more than) a bound. */
  const millis = (
    option: string,
    input: Duration.DurationInput | undefined,
    fallback: Duration.Duration,
    bound: { readonly atLeast: number } | { readonly above: number }
  ): Checked<number> => {
    if (input === undefined) return Either.right(Duration.toMillis(fallback))
    const decoded = Duration.decodeUnknown(input)
    if (decoded._tag === "None") return refuse(option, `${String(input)} is not a duration`)
    const ms = Duration.toMillis(decoded.value)
    const ok = Number.isFinite(ms) && ("above" in bound ? ms > bound.above : ms >= bound.atLeast)
    return ok
      ? Either.right(ms)
      : refuse(option, `must be finite and ${"above" in bound ? `> ${bound.above}` : `≥ ${bound.atLeast}`} ms`)
  }

  /** `seed` and `port`, the options of `Emulator.CommonOptions` that `Emulator.serve` does not check. */
  const common = (options: Emulator.CommonOptions): Checked<{ readonly seed: number; readonly port: number }> =>
    Either.gen(function*() {
      const seed = yield* whole("seed", options.seed, 0, 0)
      const port = yield* whole("port", options.port, 0, 0, 65535)
      return { seed, port }
    })

  return {
    invalid,
    refuse,
    whole,
    nonNegative,
    probability,
    oneOf,
    nonEmptyString,
    boolean,
    distribution,
    millis,
    common
  }
}
