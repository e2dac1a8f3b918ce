/**
 * What happened to one problem and to one model: passed, failed its check,
 * or an error of a kind the summary counts — timeout, overloaded (503), not
 * found (404)… — read from the Ollama client's typed failures.
 *
 * @since 0.1.0
 */
import * as Ollama from "@bulwark/clients/Ollama"
import * as Classify from "@bulwark/core/Classify"
import type { Problem } from "./Problems.js"

/**
 * @since 0.1.0
 * @category Models
 */
export type ErrorKind =
  | "timeout"
  | "overloaded"
  | "rate-limited"
  | "not-found"
  | "refused"
  | "connection"
  | "server-error"
  | "malformed"
  | "other"

/**
 * How the summary names each kind.
 *
 * @since 0.1.0
 * @category Models
 */
export const kindLabel: Readonly<Record<ErrorKind, string>> = {
  timeout: "timeout",
  overloaded: "overloaded (503)",
  "rate-limited": "rate limited (429)",
  "not-found": "not found (404)",
  refused: "refused (400)",
  connection: "connection failed",
  "server-error": "server error (5xx)",
  malformed: "malformed answer",
  other: "other"
}

/**
 * The kind of a failure of the Ollama client; a `RetriesExhausted` is the
 * kind of its last error (the seed's "Max retries exceeded: ReadTimeout").
 *
 * @since 0.1.0
 * @category Classifying
 */
export const kindOf = (error: unknown): ErrorKind => {
  switch (Classify.tagOf(error)) {
    case "RetriesExhausted":
      return kindOf((error as { readonly lastError: unknown }).lastError)
    case "AttemptTimedOut":
    case "TimedOut":
    case "DeadlineExceeded":
      return "timeout"
    case "Overloaded":
    case "Unavailable":
      return "overloaded"
    case "RateLimited":
      return "rate-limited"
    case "ModelNotFound":
      return "not-found"
    case "RequestRefused":
    case "InvalidInput":
    case "Rejected":
    case "HttpRejected":
      return "refused"
    case "ConnectionFailed":
      return "connection"
    case "ServerError":
      return "server-error"
    case "MalformedResponse":
    case "StreamFailed":
    case "StreamTruncated":
      return "malformed"
    default:
      return "other"
  }
}

/**
 * Whether the server looked overloaded (a full queue, 429, timeouts): the
 * next model then waits for capacity first, as the seed's
 * `is_ollama_overloaded` → `wait_for_ollama_capacity`.
 *
 * @since 0.1.0
 * @category Classifying
 */
export const isOverloaded: (error: unknown) => boolean = Ollama.isOverloaded

interface Common {
  readonly problem: Problem
  readonly millis: number
  /** Requests sent for it, retries included. */
  readonly attempts: number
  /** The outcome of each attempt that was retried: its status (`503`…) or `timeout`. */
  readonly retried: ReadonlyArray<string>
}

/**
 * An answer that passed the checker.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Passed extends Common {
  readonly _tag: "Passed"
}

/**
 * An answer that came back and failed the checker: a result, not an error.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Failed extends Common {
  readonly _tag: "Failed"
}

/**
 * No answer: what the client failed with after its retries.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Errored extends Common {
  readonly _tag: "Errored"
  readonly kind: ErrorKind
  readonly message: string
  /** `Ollama.isOverloaded` of the failure. */
  readonly overloaded: boolean
}

/**
 * @since 0.1.0
 * @category Models
 */
export type ProblemResult = Passed | Failed | Errored

/**
 * One model's run.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ModelReport {
  readonly model: string
  readonly results: ReadonlyArray<ProblemResult>
  /** Problems of the range that were not sent because the model was skipped. */
  readonly notRun: number
  /** Why the model was skipped, when it was: the first error. */
  readonly skipped: Errored | undefined
  readonly millis: number
  /** Requests the model's problems sent; `requests - problems sent` were retries. */
  readonly requests: number
  /** Answers with status 503 among them (retried or not). */
  readonly busy: number
  readonly timeouts: number
}

/**
 * @since 0.1.0
 * @category Accessors
 */
export const counts = (report: ModelReport) => {
  const errors: Partial<Record<ErrorKind, number>> = {}
  let passed = 0
  let failed = 0
  let errored = 0
  for (const result of report.results) {
    if (result._tag === "Passed") passed++
    else if (result._tag === "Failed") failed++
    else {
      errored++
      errors[result.kind] = (errors[result.kind] ?? 0) + 1
    }
  }
  return {
    passed,
    failed,
    errored,
    errors,
    notRun: report.notRun,
    retries: Math.max(0, report.requests - report.results.length)
  }
}
