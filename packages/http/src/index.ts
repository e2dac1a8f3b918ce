/**
 * @since 0.1.0
 */
export * as HttpFailures from "./HttpFailures.js"
/**
 * @since 0.1.0
 */
export * as HttpMetrics from "./HttpMetrics.js"
/**
 * @since 0.1.0
 */
export * as ResilientClient from "./ResilientClient.js"
/**
 * @since 0.1.0
 */
export * as ResilientClients from "./ResilientClients.js"
/**
 * @since 0.1.0
 */
export * as ServerHints from "./ServerHints.js"
