/**
 * The benchmark: for each model in turn, the first problem alone (Ollama's
 * first request loads the model, and a model that is missing or too slow
 * fails once, not `concurrency` times), then the others in batches of
 * `concurrency` (a batch is sent at once and waited for as a whole, so the
 * load on the server is the same from run to run), each answer graded; the
 * first error the client's retries could not fix ends that model's run and
 * the next model starts — the seed's "skips to next model, reports failure
 * at end". After a model that failed overloaded (a full queue, timeouts),
 * the next one first waits for the server's capacity, as the seed's
 * `is_ollama_overloaded` → `wait_for_ollama_capacity`.
 *
 * @since 0.1.0
 */
import type * as OllamaSchema from "@bulwark/clients/OllamaSchema"
import { Array as Arr, Clock, Console, Duration, Effect, Either, Random } from "effect"
import type { ModelClient } from "./ModelClient.js"
import type { ModelReport, ProblemResult } from "./Outcome.js"
import * as Outcome from "./Outcome.js"
import * as Problems from "./Problems.js"
import * as Report from "./Report.js"

/**
 * How answers are graded: `checks` runs each problem's checker on the code;
 * `synthetic` (the emulated lab, whose answers are random words) passes any
 * complete answer — an answer that came back whole and in time.
 *
 * @since 0.1.0
 * @category Models
 */
export type Grading = "checks" | "synthetic"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Plan {
  readonly problems: ReadonlyArray<Problems.Problem>
  /** For every model and attempt; `undefined`: each model's own (`Ollama.timeoutFor`). */
  readonly timeout: Duration.Duration | undefined
  readonly concurrency: number
  readonly grading: Grading
  readonly capacityWait: Duration.Duration
}

/**
 * Whether an answer passes.
 *
 * @since 0.1.0
 * @category Grading
 */
export const grade = (grading: Grading, problem: Problems.Problem, answer: OllamaSchema.GenerateChunk): boolean =>
  grading === "checks"
    ? Problems.check(problem, answer.response)
    : answer.done && answer.done_reason !== "length" && answer.response.trim() !== ""

/** Ollama's knobs for a benchmark: the same answer for the same prompt, room for a function. */
const modelOptions = { temperature: 0, seed: 42, num_predict: 512 }

const solve = (client: ModelClient, plan: Plan) => (problem: Problems.Problem) =>
  Effect.gen(function*() {
    // the same id on every retry of this call: the client's attempt log is keyed by it
    const requestId = `koderz-${problem.index}-${(yield* Random.nextIntBetween(0, 0x7fffffff)).toString(16)}`
    const started = yield* Clock.currentTimeMillis
    const answer = yield* Effect.either(client.ollama.generate(
      { model: client.model, prompt: problem.prompt, options: modelOptions },
      { timeout: plan.timeout, task: problem.id, requestId }
    ))
    const millis = (yield* Clock.currentTimeMillis) - started
    const outcomes = yield* client.attemptsOf(requestId)
    const common = { problem, millis, attempts: Math.max(1, outcomes.length), retried: outcomes.slice(0, -1) }
    return Either.match(answer, {
      onRight: (chunk): ProblemResult => ({
        ...common,
        _tag: grade(plan.grading, problem, chunk) ? "Passed" : "Failed"
      }),
      onLeft: (error): ProblemResult => ({
        ...common,
        _tag: "Errored",
        kind: Outcome.kindOf(error),
        message: error.message,
        overloaded: Outcome.isOverloaded(error)
      })
    })
  }).pipe(Effect.withSpan("koderz.problem", { attributes: { model: client.model, problem: problem.id } }))

const describeTimeout = (client: ModelClient, plan: Plan) => {
  const timeout = plan.timeout ?? client.ollama.timeoutFor(client.model)
  return timeout === undefined ? "no timeout" : `timeout ${Duration.format(timeout)} per attempt`
}

/**
 * One model over the plan's problems, printing a line per problem.
 *
 * @since 0.1.0
 * @category Running
 */
export const runModel = Effect.fn("koderz.runModel")(function*(client: ModelClient, plan: Plan) {
  yield* Console.log(
    `▶ ${client.model} at ${client.ollama.baseUrl} — ${
      describeTimeout(client, plan)
    }, up to ${client.maxAttempts} attempt(s)`
  )
  const started = yield* Clock.currentTimeMillis
  const results: Array<ProblemResult> = []
  const [first, ...rest] = plan.problems
  const batches = first === undefined ? [] : [[first], ...Arr.chunksOf(rest, plan.concurrency)]
  let skipped: Outcome.Errored | undefined
  for (const batch of batches) {
    const done = yield* Effect.forEach(batch, solve(client, plan), { concurrency: "unbounded" })
    for (const result of done) {
      results.push(result)
      yield* Console.log(Report.problemLine(result))
      if (result._tag === "Errored" && skipped === undefined) skipped = result
    }
    if (skipped !== undefined) break
  }
  const totals = yield* client.totals
  const report: ModelReport = {
    model: client.model,
    results,
    notRun: plan.problems.length - results.length,
    skipped,
    millis: (yield* Clock.currentTimeMillis) - started,
    ...totals
  }
  yield* Console.log(`${Report.modelLine(report)}\n`)
  yield* Effect.annotateCurrentSpan({ requests: report.requests, skipped: skipped?.kind ?? "no" })
  return report
}, (effect, client) => Effect.annotateLogs(effect, { model: client.model }))

/**
 * Every model in turn; a failed model never stops the run.
 *
 * @since 0.1.0
 * @category Running
 */
export const run = Effect.fn("koderz.run")(function*(clients: ReadonlyArray<ModelClient>, plan: Plan) {
  const reports: Array<ModelReport> = []
  for (const client of clients) {
    const previous = reports.at(-1)?.skipped
    if (previous?.overloaded === true) {
      const ready = yield* client.ollama.waitForCapacity({ timeout: plan.capacityWait }).pipe(Effect.orDie)
      yield* Console.log(
        ready
          ? `… ${client.ollama.baseUrl} has capacity (/api/ps answered)`
          : `… ${client.ollama.baseUrl} still busy after ${Duration.format(plan.capacityWait)}: going on anyway`
      )
    }
    reports.push(yield* runModel(client, plan))
  }
  return reports
})
