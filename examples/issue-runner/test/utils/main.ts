import * as MainProcess from "@bulwark/test-support/MainProcess"
import * as path from "node:path"

/** This example's `src/main.ts` as a process. */
export const runMain = MainProcess.runner(path.join(__dirname, "../.."))

export const stackLine = MainProcess.stackLine
