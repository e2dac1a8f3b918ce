/**
 * The job of seed 001's runner: ask the LLM for a first reply to an issue and
 * post it as a comment. It is the job level (layer 3) of the seed's diagram:
 * a `JobType` with the seed's re-queueing (5 attempts, 1 s doubling to 60 s),
 * run by `JobSupervisor`, whose "Re-queuing job … (attempt 1/5) after 1s"
 * lines are the seed's. The two calls inside carry the layers below: the LLM
 * client and the installation-token exchange retry each request (layer 1),
 * and the GitHub client retries the comment (layer 2).
 *
 * Each call is a durable `Workflow.step`: a job re-queued because the
 * comment could not be posted does not ask the LLM again.
 *
 * @since 0.1.0
 */
import { GitHub, Llm, type LlmSchema } from "@bulwark/clients"
import { Classify } from "@bulwark/core"
import { JobType, Workflow } from "@bulwark/jobs"
import { Effect, Schema } from "effect"
import { commentFailure, draftFailure } from "./internal/classify.js"
import * as Issues from "./Issues.js"
import { JobError } from "./RunnerErrors.js"
import * as Timeline from "./Timeline.js"

/**
 * What a job leaves behind: the comment it posted.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const Posted = Schema.Struct({
  issue: Schema.String,
  commentId: Schema.Number,
  url: Schema.String
})

/**
 * @since 0.1.0
 * @category Models
 */
export interface Posted extends Schema.Schema.Type<typeof Posted> {}

/**
 * The messages sent to the LLM for an issue.
 *
 * @since 0.1.0
 * @category Prompts
 */
export const prompt = (issue: Issues.Issue): LlmSchema.ChatCompletionRequest["messages"] => [
  {
    role: "system",
    content: "You are a maintainer's assistant. Write a short, friendly first reply to a GitHub issue: " +
      "thank the author, restate the problem in one sentence, and say what happens next."
  },
  { role: "user", content: `Issue ${Issues.ref(issue)}: ${issue.title}\n\n${issue.body}` }
]

/**
 * The comment posted for a reply: the reply, and a footer naming the job.
 *
 * @since 0.1.0
 * @category Prompts
 */
export const commentBody = (reply: string, jobId: string): string =>
  `${reply.trim()}\n\n---\n_Drafted by Bulwark's issue-runner (job ${jobId.slice(0, 8)})._`

const words = (text: string) => text.trim().split(/\s+/).filter((word) => word !== "").length

const draft = (issue: Issues.Issue, jobId: string) =>
  Effect.gen(function*() {
    const llm = yield* Llm.Llm
    const completion = yield* llm.create(
      { messages: prompt(issue), max_completion_tokens: 300 },
      { task: "draft-reply", clientJobId: jobId }
    ).pipe(Effect.mapError((error) => draftFailure(llm.service, error)))
    const reply = completion.choices[0]?.message.content ?? ""
    if (reply.trim() === "") {
      return yield* draftFailure(llm.service, {
        _tag: "EmptyReply",
        message: `the LLM answered without text (finish_reason ${completion.choices[0]?.finish_reason ?? "none"})`
      })
    }
    yield* Timeline.note("request", `LLM drafted a reply (${words(reply)} words)`)
    return reply
  })

const post = (issue: Issues.Issue, reply: string, jobId: string) =>
  Effect.gen(function*() {
    const github = yield* GitHub.GitHub
    const reference = Issues.ref(issue)
    const comment = yield* github.createComment(
      { owner: issue.owner, repo: issue.repo, issue_number: issue.number, body: commentBody(reply, jobId) },
      { task: "post-comment", clientJobId: jobId }
    ).pipe(Effect.mapError((error) => commentFailure(GitHub.defaults.service, reference, error)))
    yield* Timeline.note("tool", `comment posted: ${comment.html_url}`)
    return { issue: reference, commentId: comment.id, url: comment.html_url }
  })

/**
 * The reply job: `payload` is the issue, the result the comment posted.
 * Only `UpstreamUnavailable` (a service rate limited or down through every
 * retry below) re-queues it; a refusal, or a comment that may already exist,
 * fails it at once.
 *
 * @since 0.1.0
 * @category Job types
 */
export const ReplyToIssue = JobType.make({
  name: "reply-to-issue",
  payload: Issues.Issue,
  result: Posted,
  error: JobError,
  // Seed 001, "Job Re-queueing": max retries 5, 1 s doubling, at most 60 s.
  maxAttempts: 5,
  base: "1 second",
  factor: 2,
  maxDelay: "60 seconds",
  retryOn: (error) => Classify.tagOf(error) === "UpstreamUnavailable",
  handler: (issue) =>
    Effect.gen(function*() {
      const job = yield* JobType.CurrentJob
      yield* Timeline.note("job", `attempt ${job.attempt}/${job.maxAttempts} started`)
      const reply = yield* Workflow.step("draft-reply", Schema.String, draft(issue, job.id))
      const posted = yield* Workflow.step("post-comment", Posted, post(issue, reply, job.id))
      yield* Timeline.note("job", `succeeded on attempt ${job.attempt}/${job.maxAttempts}`)
      return posted
    }).pipe(
      // A step's own failures are a bug (a name used twice) or the store's: the job ends as a defect.
      Effect.catchTags({
        DuplicateStep: Effect.die,
        InvalidStoredStep: Effect.die,
        InvalidStepResult: Effect.die,
        LeaseLost: Effect.die,
        StoreFailure: Effect.die
      }),
      Effect.annotateLogs({ issue: Issues.ref(issue) }),
      Effect.withSpan("IssueRunner.reply", { attributes: { "github.issue": Issues.ref(issue) } })
    )
})
