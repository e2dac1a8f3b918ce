/**
 * @since 0.1.0
 */
export * as Heartbeat from "./Heartbeat.js"
/**
 * @since 0.1.0
 */
export * as Prometheus from "./Prometheus.js"
/**
 * @since 0.1.0
 */
export * as Telemetry from "./Telemetry.js"
/**
 * @since 0.1.0
 */
export * as StatusServer from "./StatusServer.js"
