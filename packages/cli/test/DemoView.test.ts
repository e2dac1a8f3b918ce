import type { Job } from "@bulwark/jobs"
import * as JobSupervisor from "@bulwark/jobs/JobSupervisor"
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Effect, TestClock } from "effect"
import * as Monitor from "../src/internal/demoMonitor.js"
import * as DemoView from "../src/internal/demoView.js"

const id = (n: number) => `job-${n}` as Job.JobId
const gpu = (service: string, inUse: number, utilization: number, requests = 10) => ({
  inUse,
  stats: { service, utilization, requests } as never
})

const breakerStatus = {
  service: "ollama",
  state: "OPEN",
  degraded: true,
  consecutiveFailures: 3,
  secondsUntilRetry: 0.6,
  failureCount: 3,
  openings: 1,
  probesInFlight: 0,
  probeSuccesses: 0,
  isolations: 0,
  lastFailureTime: null,
  lastSuccessTime: null
} as const

describe("the demo's live view", () => {
  it.effect("says what each job is doing, from the workers' events and GPU calls", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const monitor = Monitor.make(yield* Effect.clock, (line) => lines.push(line))
      for (const n of [1, 2, 3, 4]) monitor.register(id(n))
      const event = JobSupervisor.JobEvent
      monitor.onJobEvent("worker-1", event.Started({ id: id(1), type: "demo.compose", attempt: 1 }))
      monitor.onJobEvent("worker-2", event.Started({ id: id(2), type: "demo.compose", attempt: 1 }))
      monitor.onJobEvent("worker-2", event.Started({ id: id(3), type: "demo.compose", attempt: 1 }))
      monitor.hooks.queued(id(1), "base")
      monitor.hooks.sent(id(1), "base")
      monitor.hooks.sent(id(2), "base")
      yield* TestClock.adjust("1 second")
      monitor.hooks.answered(id(2), "base", 429, 300)
      monitor.hooks.queued(id(3), "base")
      monitor.onJobEvent(
        "worker-1",
        event.Progress({ id: id(4), type: "demo.compose", progress: { step: "generate", tokens: 128 } })
      )
      monitor.onBreaker("ollama", {
        service: "ollama",
        from: "CLOSED",
        to: "OPEN",
        reason: "tripped",
        detail: "failures: 3",
        at: 1000,
        openFor: undefined
      })

      expect(Monitor.tally(monitor)).toEqual({
        done: 0,
        onGpu: 1,
        waiting: 2,
        running: 1,
        queued: 0,
        retrying: 0,
        failed: 0
      })
      expect(lines).toContain("  1.00s  job 02 GPU busy at orpheus-base: waiting 0.30s (Retry-After; no attempt used)")
      expect(lines).toContain("  1.00s  breaker ollama: CLOSED -> OPEN (failures: 3)")

      const header = {
        jobs: 4,
        workers: 2,
        seed: 1,
        store: "sqlite:demo.db",
        heartbeat: "http://127.0.0.1:1/heartbeat"
      }
      const gpus = [gpu("orpheus-base", 1, 0.93), gpu("orpheus-bridge", 0, 0.4), gpu("orpheus-loops", 0, 1, 1)]
      // Before the first heartbeat, the breakers' own events.
      expect(DemoView.frame(header, monitor, gpus).split("\n")).toContain("breakers  ollama OPEN · 1 transitions")
      monitor.onHeartbeat({
        status: "degraded",
        checkedAt: DateTime.unsafeMake(1000),
        breakers: { ollama: breakerStatus },
        jobs: null
      })
      expect(lines.at(-1)).toBe("  1.00s  heartbeat degraded: ollama OPEN (3 failures, retry in 0.6s)")

      const frame = DemoView.frame(header, monitor, gpus).split("\n")
      expect(frame[0]).toBe("bulwark demo · 4 fanfare jobs · 2 workers · Orpheus GPUs of capacity 1 · seed 1 · 1.0s")
      expect(frame).toContain(
        "jobs      0/4 done · 1 on a GPU · 2 waiting for a GPU · 1 between calls · 0 queued · 0 re-queued · 0 failed"
      )
      expect(frame).toContain("breakers  ollama OPEN (3 failures, retry in 0.6s) · 1 transitions")
      expect(frame).toContain("heartbeat degraded at http://127.0.0.1:1/heartbeat")
      // A GPU with a single request has no utilisation to show yet.
      expect(frame).toContain(
        "GPUs      orpheus-base ● busy 93 % · orpheus-bridge ○ idle 40 % · orpheus-loops ○ idle —"
      )
      expect(frame.find((line) => line.startsWith("  01"))).toMatch(/^ {2}01 ◆ on orpheus-base/)
      expect(frame.find((line) => line.startsWith("  02"))).toMatch(/^ {2}02 ⧖ GPU busy 0\.3s/)
      expect(frame.find((line) => line.startsWith("  03"))).toMatch(/^ {2}03 … waits for base GPU/)
      expect(frame.find((line) => line.startsWith("  04"))).toMatch(/generate ✔ continue bridge loops/)
      // The last lines of the log close the frame.
      expect(frame.at(-1)).toBe(lines.at(-1))
    }))
})
