/**
 * The machine a report was measured on: absolute times mean nothing without it.
 */
import * as os from "node:os"

export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly node: string
  readonly platform: string
}

export const current = (): Machine => {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model.trim().replace(/\s+/g, " ") ?? "unknown CPU",
    cores: cpus.length,
    node: process.version,
    platform: `${process.platform}/${process.arch}`
  }
}

export const describe = (machine: Machine): string =>
  `${machine.cpu}, ${machine.cores} core${machine.cores === 1 ? "" : "s"}, Node ${machine.node}, ${machine.platform}`
