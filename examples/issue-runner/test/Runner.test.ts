import { Llm } from "@bulwark/clients"
import { GitHubEmulator, OpenAiEmulator } from "@bulwark/emulators"
import { FetchHttpClient } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Layer, Redacted } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Issues from "../src/Issues.js"
import * as Runner from "../src/Runner.js"
import * as Storm from "../src/Storm.js"
import * as Timeline from "../src/Timeline.js"

/** The runner over `services`, recorded by a fresh timeline; the emulators are read before they stop. */
const runWith = <R, E>(
  issues: ReadonlyArray<Issues.Issue>,
  services: Layer.Layer<R, E>
) =>
  Effect.gen(function*() {
    const timeline = yield* Timeline.make()
    return yield* Effect.gen(function*() {
      const report = yield* Runner.run(issues)
      const github = yield* GitHubEmulator.GitHubEmulator
      const openai = yield* OpenAiEmulator.OpenAiEmulator
      return {
        report,
        comments: yield* github.comments,
        gitHubStats: yield* github.stats,
        llmStats: yield* openai.stats,
        llmRequests: yield* openai.requests
      }
    }).pipe(Effect.provide(Runner.supervisorLayer), Effect.provide(services), Runner.observe(timeline))
  })

const calm = { openAiFaults: "", gitHubFaults: "" } as const

const emulated = (options: Storm.Options) => Storm.layer(options).pipe(Layer.provide(FetchHttpClient.layer))

const of = (entries: ReadonlyArray<Timeline.Entry>, subject: string) =>
  entries.filter((entry) => entry.subject === subject)

describe("issue-runner against the emulators", () => {
  it.live(
    "the storm: every issue gets exactly one comment, and each of the three layers retries",
    () =>
      Effect.gen(function*() {
        const { comments, gitHubStats, llmStats, report } = yield* runWith(Issues.bundled, emulated({}))
        const { entries } = report

        // every job succeeded, and every issue got exactly one comment
        expect(report.outcomes.map((outcome) => [outcome.issue, Either.isRight(outcome.result)])).toEqual(
          Issues.bundled.map((issue) => [Issues.ref(issue), true])
        )
        expect(comments.map((comment) => comment.issue).sort()).toEqual([1, 2, 3, 4])
        for (const comment of comments) expect(comment.body).toMatch(/Drafted by Bulwark's issue-runner \(job \w{8}\)/)

        // the storm happened: OpenAI answered 429 then 502, GitHub 503 then the secondary limit's 403
        expect(llmStats.faults["status-429"]).toBeGreaterThanOrEqual(1)
        expect(llmStats.faults["status-502"]).toBeGreaterThanOrEqual(4)
        expect(gitHubStats.rejections["503"]).toBeGreaterThanOrEqual(1)
        expect(gitHubStats.rejections["403"]).toBeGreaterThanOrEqual(1)

        // layer 1: the LLM retried a 429, the token exchange a 503
        const retries = entries.filter((entry) => entry.kind === "retry")
        expect(retries.some((entry) => entry.level === "request" && entry.label === "LLM" && / 429 /.test(entry.text)))
          .toBe(true)
        expect(
          retries.some((entry) => entry.level === "request" && entry.label === "token API" && / 503 /.test(entry.text))
        )
          .toBe(true)
        // layer 2: a comment retried after GitHub's secondary rate limit
        expect(retries.some((entry) => entry.level === "tool" && entry.label === "comment" && / 403 /.test(entry.text)))
          .toBe(true)
        // layer 3: a job re-queued by the supervisor after the LLM gave up, with the seed's log line
        const requeues = entries.filter((entry) => entry.kind === "requeue")
        expect(requeues.length).toBeGreaterThanOrEqual(1)
        for (const requeue of requeues) expect(requeue.text).toMatch(/^re-queued \(attempt \d\/5\) after \d+m?s$/)
        expect(entries.some((entry) => entry.kind === "gave-up" && entry.label === "LLM")).toBe(true)
        // a re-queued job ran again from its first step and succeeded on a later attempt
        const requeued = requeues[0]!.subject
        expect(of(entries, requeued).map((entry) => entry.text)).toContain("attempt 2/5 started")
        expect(report.outcomes.find((outcome) => outcome.issue === requeued)!.attempts).toBeGreaterThanOrEqual(2)

        // the printer: one line per entry, in the seed's "T=…" form, then the three layers' counts
        const lines = Timeline.render(entries)
        expect(lines[0]).toMatch(/^T\s+layer\s+issue\s+what happened$/)
        expect(
          lines.slice(1, entries.length + 1).every((line) => /^T=\d+\.\d\ds\s+(request|tool|job)\s+\S+\s+\S/.test(line))
        )
          .toBe(true)
        expect(lines).toContainEqual(
          expect.stringMatching(
            /^T=\d+\.\d\ds +request +octo-org\/hello#\d +LLM attempt 1\/5 failed: 429 RateLimited, retrying in \S+$/
          )
        )
        expect(lines).toContainEqual(
          expect.stringMatching(/^T=\d+\.\d\ds +job +octo-org\/hello#\d +re-queued \(attempt 1\/5\) after \d+m?s$/)
        )
        expect(lines).toContainEqual(
          expect.stringMatching(
            /^T=\d+\.\d\ds +tool +octo-org\/hello#\d +comment attempt 1\/3 failed: 403 RateLimited, retrying in 1\.0s \(rate limited: attempt not counted\)$/
          )
        )
        const retried = Timeline.totals(entries).retries.tool.comment!
        const requeueCount = Timeline.totals(entries).requeues
        expect(lines.slice(-3)).toEqual([
          `job level:     ${requeueCount} re-queue${requeueCount === 1 ? "" : "s"}, 0 jobs failed for good`,
          `tool level:    ${retried} retr${retried === 1 ? "y" : "ies"} (comment ${retried})`,
          expect.stringMatching(
            /^request level: \d+ retries \(LLM \d+, token API 1\), then gave up: \d+ calls? \(LLM \d+\)$/
          )
        ])
        // the timeline is in time order
        expect(entries.map((entry) => entry.at)).toEqual([...entries.map((entry) => entry.at)].sort((a, b) => a - b))
      }),
    30_000
  )

  it.live(
    "a repository that does not exist fails its job at once: no retry at any layer",
    () =>
      Effect.gen(function*() {
        const missing: Issues.Issue = { owner: "octo-org", repo: "missing", number: 1, title: "Lost", body: "Where?" }
        const { comments, report } = yield* runWith([Issues.bundled[0]!, missing], emulated(calm))
        const [answered, failed] = report.outcomes
        expect(Either.isRight(answered!.result)).toBe(true)
        expect(failed!.attempts).toBe(1)
        expect(failed!.result).toMatchObject({
          _tag: "Left",
          left: { _tag: "UpstreamRefused", stage: "post-comment", service: "github", status: 404 }
        })
        expect(comments.map((comment) => comment.repo)).toEqual(["hello"])
        const lost = of(report.entries, "octo-org/missing#1")
        expect(lost.filter((entry) => entry.kind === "retry" || entry.kind === "requeue")).toEqual([])
        expect(lost.map((entry) => entry.text)).toContainEqual(
          expect.stringMatching(
            /^failed for good \(attempt 1\/5\): github refused post-comment \(HttpRejected HTTP 404\)/
          )
        )
      }),
    30_000
  )

  it.scopedLive("a refused API key (401) fails the job at once, after one request", () =>
    Effect.gen(function*() {
      const openai = yield* OpenAiEmulator.make({ apiKey: "sk-right" })
      const services = Layer.mergeAll(
        Llm.layer({ baseUrl: `${openai.url}/v1`, apiKey: Redacted.make("sk-wrong") }),
        Layer.succeed(OpenAiEmulator.OpenAiEmulator, openai),
        Storm.gitHubLayer(calm)
      ).pipe(Layer.provide(FetchHttpClient.layer))
      const { comments, llmRequests, report } = yield* runWith([Issues.bundled[0]!], services)
      expect(report.outcomes[0]!.attempts).toBe(1)
      expect(report.outcomes[0]!.result).toMatchObject({
        _tag: "Left",
        left: { _tag: "UpstreamRefused", stage: "draft-reply", failure: "AuthenticationFailed", status: 401 }
      })
      expect(llmRequests.map((request) => request.status)).toEqual([401])
      expect(comments).toEqual([])
      expect(report.entries.filter((entry) => entry.kind === "retry" || entry.kind === "requeue")).toEqual([])
    }), 30_000)

  it.scopedLive(
    "the demo against real endpoints named by the environment: the clients' variables, an issues file",
    () =>
      Effect.gen(function*() {
        // stand-ins for api.openai.com and api.github.com, configured by variables only
        const keys = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
        const openai = yield* OpenAiEmulator.make({ apiKey: "sk-real" })
        const github = yield* GitHubEmulator.make({
          appId: 99,
          publicKey: keys.publicKey.export({ type: "spki", format: "pem" }).toString(),
          installations: [{ id: 5 }]
        })
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "issue-runner-"))
        const file = path.join(dir, "issues.json")
        fs.writeFileSync(
          file,
          JSON.stringify([{ owner: "acme", repo: "widgets", number: 12, title: "Broken", body: "It broke." }])
        )
        const env = new Map([
          ["LLM_BASE_URL", `${openai.url}/v1`],
          ["LLM_API_KEY", "sk-real"],
          ["GITHUB_APP_ID", "99"],
          ["GITHUB_PRIVATE_KEY", keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString()],
          ["GITHUB_INSTALLATION_ID", "5"],
          ["GITHUB_API_URL", github.url],
          ["ISSUE_RUNNER_ISSUES_FILE", file]
        ])
        const printed: Array<string> = []
        const report = yield* Runner.demo({ print: (line) => printed.push(line) }).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(env, { pathDelim: "_" })),
          Effect.provide(NodeFileSystem.layer)
        )
        expect(Either.isRight(report.outcomes[0]!.result)).toBe(true)
        expect((yield* github.comments).map((comment) => [comment.owner, comment.repo, comment.issue])).toEqual([
          ["acme", "widgets", 12]
        ])
        expect(printed.slice(0, 5)).toEqual([
          "issue-runner (seed 001): 1 issue",
          "  LLM: real endpoint (LLM_BASE_URL / LLM_API_KEY)",
          "  GitHub: real endpoint (GITHUB_API_URL / GITHUB_APP_ID)",
          "",
          Timeline.render([])[0]
        ])
        expect(printed).toContainEqual(
          expect.stringMatching(/^T=\d+\.\d\ds +job +acme\/widgets#12 +attempt 1\/5 started$/)
        )
        expect(printed).toContainEqual(
          expect.stringMatching(
            /^T=\d+\.\d\ds +tool +acme\/widgets#12 +comment posted: https:\/\/github\.com\/acme\/widgets\/issues\/12#issuecomment-\d+$/
          )
        )
        expect(printed.slice(-6)).toEqual([
          "job level:     0 re-queues, 0 jobs failed for good",
          "tool level:    0 retries",
          "request level: 0 retries",
          "",
          expect.stringMatching(/^1 of 1 issues answered in \d+\.\ds$/),
          expect.stringMatching(
            /^acme\/widgets#12 +answered \(job attempt 1\): https:\/\/github\.com\/acme\/widgets\/issues\/12#issuecomment-\d+$/
          )
        ])
      }),
    30_000
  )

  it.live("the demo on the emulators: the issues of a file exist in the emulated GitHub", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "issue-runner-"))
      const file = path.join(dir, "issues.json")
      fs.writeFileSync(file, JSON.stringify([{ owner: "acme", repo: "gadgets", number: 3, title: "t", body: "b" }]))
      const printed: Array<string> = []
      const report = yield* Runner.demo({ print: (line) => printed.push(line), storm: calm }).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["ISSUE_RUNNER_ISSUES_FILE", file]]))),
        Effect.provide(NodeFileSystem.layer)
      )
      expect(report.outcomes.map((outcome) => [outcome.issue, Either.isRight(outcome.result)])).toEqual([
        ["acme/gadgets#3", true]
      ])
      expect(printed.slice(0, 3)).toEqual([
        "issue-runner (seed 001): 1 issue",
        "  LLM: OpenAI emulator faults: none",
        "  GitHub: GitHub emulator faults: none; at most 2 comments per 1s (secondary rate limit)"
      ])
      expect(printed).toContainEqual(expect.stringMatching(/^1 of 1 issues answered in \d+\.\ds$/))
    }), 30_000)
})
