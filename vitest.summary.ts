import type { Reporter, TestModule } from "vitest/node"

/**
 * Ends every run with the plain `N passed, N failed, N skipped` line that CI reads,
 * after vitest's own summary (which the default reporter prints in `onFinished`).
 */
export default class SummaryReporter implements Reporter {
  private summary = ""

  onTestRunEnd(modules: ReadonlyArray<TestModule>) {
    const counts = { passed: 0, failed: 0, skipped: 0 }
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state
        if (state === "passed") counts.passed++
        else if (state === "failed") counts.failed++
        else counts.skipped++
      }
    }
    this.summary = `${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`
  }

  onFinished() {
    setImmediate(() => process.stdout.write(`\n${this.summary}\n`))
  }
}
