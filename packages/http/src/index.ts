/**
 * @since 0.1.0
 */
export * as HttpFailures from "./HttpFailures.js"
export * as ResilientClient from "./ResilientClient.js"
export * as ServerHints from "./ServerHints.js"
