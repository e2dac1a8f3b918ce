import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as path from "node:path"

const root = path.join(__dirname, "../../..")
const bin = path.join(__dirname, "../src/bin.ts")

/**
 * Starts `bulwark-emulate` from the sources, as `pnpm emulate` does, but with
 * tsx as a loader of this node process rather than a wrapper process: a
 * SIGINT then reaches the emulator itself, not a relay that may not yet know
 * the emulator handles it (and exits 130 on a loaded machine).
 */
const start = (...args: Array<string>) => {
  const child = spawn(process.execPath, ["--import", "tsx", "--conditions=@bulwark/source", bin, ...args], {
    cwd: root
  })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const firstLine = () =>
    new Promise<string>((resolve, reject) => {
      if (stdout.includes("\n")) return resolve(stdout.split("\n")[0]!)
      child.stdout.on("data", () => stdout.includes("\n") && resolve(stdout.split("\n")[0]!))
      void exited.then((code) => reject(new Error(`exited with ${code}: ${stderr}`)))
    })
  return { child, exited, firstLine, output: () => ({ stdout, stderr }) }
}

describe("bulwark-emulate", () => {
  it("prints where it listens, serves, and stops on SIGINT", async () => {
    const process = start("orpheus", "--port", "0", "--faults", "status=503@0s-10m", "--options", "{\"capacity\":2}")
    try {
      const listening = JSON.parse(await process.firstLine()) as { service: string; url: string; port: number }
      expect(listening).toMatchObject({ service: "orpheus-base", url: `http://127.0.0.1:${listening.port}` })
      const response = await fetch(`${listening.url}/predict`, { method: "POST", body: "{}" })
      expect(response.status).toBe(503)
    } finally {
      process.child.kill("SIGINT")
    }
    expect(await process.exited).toBe(0)
  }, 60_000) // a cold `node --import tsx` child on a loaded machine takes seconds

  it("exits 2 with the usage on bad arguments, 1 naming a bad option", async () => {
    const unknown = start("nope")
    expect(await unknown.exited).toBe(2)
    expect(unknown.output().stderr).toContain("unknown service \"nope\"")
    expect(unknown.output().stderr).toContain("usage: bulwark-emulate")
    const badOption = start("ollama", "--options", "{\"numParallel\":0}")
    expect(await badOption.exited).toBe(1)
    expect(badOption.output().stderr).toContain("numParallel")
  }, 60_000) // a cold `node --import tsx` child on a loaded machine takes seconds
})
