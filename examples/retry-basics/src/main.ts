import { Effect, Exit } from "effect"
import { program } from "./program.js"

const exit = await Effect.runPromiseExit(program)
if (Exit.isFailure(exit)) {
  process.stderr.write(`retry-basics failed: ${String(exit.cause)}\n`)
  process.exitCode = 1
} else {
  const [recovered, waited, gaveUp, notRetried] = exit.value
  const expected = recovered && waited && !gaveUp && !notRetried
  process.stdout.write(`\n${expected ? "All four calls behaved as their policies say." : "Unexpected outcome!"}\n`)
  if (!expected) process.exitCode = 1
}
