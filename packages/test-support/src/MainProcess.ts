/**
 * An example's `src/main.ts` as a process, run as a user runs it (Node with
 * tsx's loader, from the example's folder): its exit code and what it wrote.
 */
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as path from "node:path"

export interface Exited {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Variables of the machine a test must not inherit: they would change what the example does. */
const ours = /^(OTEL_|FANFARE_|ORPHEUS_|LLM_|GITHUB_|ISSUE_RUNNER_|OLLAMA_|HEARTBEAT_|CIRCUIT_|LOG_LEVEL$)/

/**
 * Runs `<root>/src/main.ts <args>` with the machine's environment less ours,
 * plus `env`; killed with the scope, or after 60 s.
 */
export const runner = (root: string) => (env: Readonly<Record<string, string>>, ...args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !ours.test(name)))
      const child = spawn(
        process.execPath,
        ["--conditions=@bulwark/source", "--import", "tsx", path.join(root, "src/main.ts"), ...args],
        { cwd: root, env: { ...inherited, NO_COLOR: "1", ...env } }
      )
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
      const exited = new Promise<Exited>((resolve) =>
        child.on("exit", (code) => setImmediate(() => resolve({ code, stdout, stderr })))
      )
      return { child, exited }
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
  ).pipe(
    Effect.flatMap(({ exited }) => Effect.promise(() => exited)),
    Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error("main.ts still running after 60 s") })
  )

/** A stack trace's line. */
export const stackLine = /^\s+at /m
