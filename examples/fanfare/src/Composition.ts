/**
 * The composition: one job per piece, a durable workflow of four Orpheus
 * calls — generate → continue → bridge → loops — each a `Workflow.step`, so a
 * job that is re-queued after a later step failed does not generate its
 * opening again (seed 000 regenerated everything, or simply failed the job).
 *
 * Every call carries `client_job_id` = the job's id, as seed 000 asked: the
 * Orpheus servers echo it, and every log line and span of the call carries it.
 */
import { Orpheus } from "@bulwark/clients"
import { Classify } from "@bulwark/core"
import { JobType, Workflow } from "@bulwark/jobs"
import type { Duration } from "effect"
import { Effect, Schema } from "effect"

/** What a job is asked to compose. */
export const Request = Schema.Struct({
  title: Schema.String,
  /** Tokens per section, 1–8192 (Orpheus's range). */
  maxTokens: Schema.Int.pipe(Schema.between(1, 8192)),
  temperature: Schema.Number.pipe(Schema.between(0, 2))
})
export type Request = typeof Request.Type

/** One generated section, as stored with the job: the MIDI bytes (base64 in the store) and their length in tokens. */
export const Section = Schema.Struct({
  midi: Schema.Uint8ArrayFromBase64,
  tokens: Schema.Number
})
export type Section = typeof Section.Type

/** The names of the workflow's steps, in order. */
export const steps = ["generate", "continue", "bridge", "loops"] as const
export type Step = typeof steps[number]

/** A finished piece: what `wait` returns (the MIDI itself stays in the steps). */
export const Piece = Schema.Struct({
  title: Schema.String,
  sections: Schema.Array(Schema.Struct({ step: Schema.String, tokens: Schema.Number, bytes: Schema.Number })),
  tokens: Schema.Number
})
export type Piece = typeof Piece.Type

/**
 * Which failures re-queue the job: the transient ones, also when the client
 * already retried them (`RetriesExhausted` of a transient error), and a GPU
 * that stayed busy past the client's deadline (`GpuBusy`, which carries the
 * server's Retry-After: the supervisor then waits it without using an attempt).
 */
export const isTransient = (error: unknown): boolean =>
  Classify.isTransient(error) || Classify.tagOf(error) === "GpuBusy"

const section = (step: Step, call: Effect.Effect<Orpheus.Generation, Orpheus.OrpheusError>) =>
  Effect.map(call, (generation): Section => {
    const first = generation.variations[0]!
    return { midi: first.midi, tokens: first.numTokens }
  }).pipe(Effect.tap((done) => JobType.reportProgress({ step, tokens: done.tokens })))

/** The workflow itself: what one attempt of a composition job runs. */
export const compose = (request: Request) =>
  Effect.gen(function*() {
    const job = yield* JobType.CurrentJob
    const orpheus = yield* Orpheus.Orpheus
    // The attempt's span (the handler runs inside it) carries the id the servers see.
    const sampling = { maxTokens: request.maxTokens, temperature: request.temperature, clientJobId: job.id }

    const opening = yield* Workflow.step("generate", Section, section("generate", orpheus.generate(sampling)))
    const development = yield* Workflow.step(
      "continue",
      Section,
      section("continue", orpheus.continue({ ...sampling, midi: opening.midi }))
    )
    const bridge = yield* Workflow.step(
      "bridge",
      Section,
      section("bridge", orpheus.bridge({ ...sampling, sectionA: development.midi, sectionB: opening.midi }))
    )
    const loops = yield* Workflow.step(
      "loops",
      Section,
      section("loops", orpheus.loops({ ...sampling, seed: bridge.midi }))
    )

    const sections = [opening, development, bridge, loops].map((done, i) => ({
      step: steps[i]!,
      tokens: done.tokens,
      bytes: done.midi.length
    }))
    return { title: request.title, sections, tokens: sections.reduce((sum, s) => sum + s.tokens, 0) } satisfies Piece
  })

/** How a composition job is re-queued. */
export interface ComposeOptions {
  /** Counted attempts of a job. Default 5 (seed 001's job-level re-queueing). */
  readonly maxAttempts?: number | undefined
  /** The first re-queue delay after a failed attempt. Default 1 second, doubling. */
  readonly base?: Duration.DurationInput | undefined
  /** Jobs one worker runs at once. Default 4. */
  readonly concurrency?: number | undefined
}

/** The job type `fanfare.compose`. */
export const makeCompose = (options: ComposeOptions = {}) =>
  JobType.make({
    name: "fanfare.compose",
    payload: Request,
    result: Piece,
    handler: compose,
    maxAttempts: options.maxAttempts ?? 5,
    base: options.base ?? "1 second",
    maxDelay: "30 seconds",
    concurrency: options.concurrency ?? 4,
    retryOn: isTransient
  })

export type Compose = ReturnType<typeof makeCompose>
