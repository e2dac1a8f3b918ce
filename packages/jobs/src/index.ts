/**
 * @since 0.1.0
 */
export * as Job from "./Job.js"
/**
 * @since 0.1.0
 */
export * as JobErrors from "./JobErrors.js"
/**
 * @since 0.1.0
 */
export * as JobMetrics from "./JobMetrics.js"
/**
 * @since 0.1.0
 */
export * as JobStore from "./JobStore.js"
/**
 * @since 0.1.0
 */
export * as JobSupervisor from "./JobSupervisor.js"
/**
 * @since 0.1.0
 */
export * as JobType from "./JobType.js"
/**
 * @since 0.1.0
 */
export * as Workflow from "./Workflow.js"
