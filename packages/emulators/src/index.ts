/**
 * @since 0.1.0
 */
export * as Cli from "./Cli.js"
/**
 * @since 0.1.0
 */
export * as Emulator from "./Emulator.js"
/**
 * @since 0.1.0
 */
export * as EmulatorStats from "./EmulatorStats.js"
/**
 * @since 0.1.0
 */
export * as Faults from "./Faults.js"
/**
 * @since 0.1.0
 */
export * as GitHubEmulator from "./GitHubEmulator.js"
/**
 * @since 0.1.0
 */
export * as OllamaEmulator from "./OllamaEmulator.js"
/**
 * @since 0.1.0
 */
export * as OpenAiEmulator from "./OpenAiEmulator.js"
/**
 * @since 0.1.0
 */
export * as OrpheusEmulator from "./OrpheusEmulator.js"
