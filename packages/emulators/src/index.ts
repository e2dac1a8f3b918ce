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
