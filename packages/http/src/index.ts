/**
 * @since 0.1.0
 */
export * as HttpFailures from "./HttpFailures.js"
export * as HttpMetrics from "./HttpMetrics.js"
export * as ResilientClient from "./ResilientClient.js"
export * as ResilientClients from "./ResilientClients.js"
export * as ServerHints from "./ServerHints.js"
