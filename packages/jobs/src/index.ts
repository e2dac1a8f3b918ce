/**
 * @since 0.1.0
 */
export * as Job from "./Job.js"
/**
 * @since 0.1.0
 */
export * as JobStore from "./JobStore.js"
