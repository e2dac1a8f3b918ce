import { Errors, Retry } from "@bulwark/core"
import { HttpFailures } from "@bulwark/http"
import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import { commentFailure, draftFailure } from "../src/internal/classify.js"
import * as Issues from "../src/Issues.js"
import * as ReplyJob from "../src/ReplyJob.js"

const exhausted = (lastError: unknown, retryAfter?: Duration.Duration) =>
  new Retry.RetriesExhausted({
    policy: "llm",
    reason: "max-attempts",
    attempts: 5,
    elapsed: Duration.seconds(2),
    lastError,
    retryAfter
  })

const badGateway = new Errors.ServerError({ service: "llm", status: 502, detail: "bad gateway" })
const notFound = new HttpFailures.HttpRejected({
  service: "github",
  status: 404,
  headers: {},
  excerpt: "{\"message\":\"Not Found\"}",
  truncated: false
})

describe("the reply job's failures", () => {
  it("the LLM: exhausted retries or a deadline re-queue the job (with the server's last hint); a 4xx fails it", () => {
    expect(draftFailure("llm", exhausted(badGateway))).toMatchObject({
      _tag: "UpstreamUnavailable",
      stage: "draft-reply",
      service: "llm",
      failure: "ServerError"
    })
    expect(draftFailure("llm", exhausted(badGateway))).not.toHaveProperty("retryAfter")
    const busy = new Errors.RateLimited({ service: "llm", status: 429, retryAfter: Duration.seconds(20) })
    const hinted = draftFailure("llm", exhausted(busy, Duration.seconds(20)))
    expect(hinted).toMatchObject({ _tag: "UpstreamUnavailable", failure: "RateLimited" })
    expect(hinted._tag === "UpstreamUnavailable" && hinted.retryAfter).toEqual(Duration.seconds(20))
    expect(draftFailure("llm", new Errors.Rejected({ service: "llm", status: 404, detail: "no model" })))
      .toMatchObject({ _tag: "UpstreamRefused", stage: "draft-reply", status: 404 })
  })

  it("the comment: nothing done → re-queue; maybe done → stop without posting again; refused → fail", () => {
    const ref = "octo-org/hello#1"
    expect(commentFailure("github", ref, exhausted(new Errors.Unavailable({ service: "github", status: 503 }))))
      .toMatchObject({ _tag: "UpstreamUnavailable", stage: "post-comment", failure: "Unavailable" })
    expect(commentFailure("github", ref, new Errors.RateLimited({ service: "github", status: 403 })))
      .toMatchObject({ _tag: "UpstreamUnavailable", failure: "RateLimited" })
    // a 502 on a POST may come after GitHub created the comment: the client does not retry it, nor does the job
    expect(commentFailure("github", ref, new Errors.ServerError({ service: "github", status: 502 }))).toMatchObject({
      _tag: "CommentOutcomeUnknown",
      issue: ref,
      failure: "ServerError"
    })
    expect(commentFailure("github", ref, new Errors.TimedOut({ service: "github" })))
      .toMatchObject({ _tag: "CommentOutcomeUnknown", failure: "TimedOut" })
    expect(commentFailure("github", ref, notFound)).toMatchObject({
      _tag: "UpstreamRefused",
      stage: "post-comment",
      failure: "HttpRejected",
      status: 404
    })
  })

  it("the messages name the service, the step and the failure", () => {
    expect(draftFailure("llm", exhausted(badGateway)).message).toMatch(
      /^llm unavailable during draft-reply \(ServerError\): llm gave up after 5 attempts/
    )
    expect(commentFailure("github", "o/r#1", new Errors.ServerError({ service: "github", status: 500 })).message)
      .toMatch(/^the comment on o\/r#1 may or may not exist \(ServerError: .*\); not posted again$/)
  })

  it("the prompt and the comment", () => {
    const [system, user] = ReplyJob.prompt(Issues.bundled[0]!)
    expect(system!.role).toBe("system")
    expect(user).toEqual({
      role: "user",
      content: "Issue octo-org/hello#1: Runner crashes when the LLM answers 429\n\n" + Issues.bundled[0]!.body
    })
    expect(ReplyJob.commentBody("  Thanks!  ", "0123456789abcdef")).toBe(
      "Thanks!\n\n---\n_Drafted by Bulwark's issue-runner (job 01234567)._"
    )
  })
})
