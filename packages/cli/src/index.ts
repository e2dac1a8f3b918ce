/**
 * @since 0.1.0
 */
export * as Cli from "./Cli.js"
/**
 * @since 0.1.0
 */
export * as Demo from "./Demo.js"
/**
 * @since 0.1.0
 */
export * as DemoCommand from "./DemoCommand.js"
/**
 * @since 0.1.0
 */
export * as EmulateCommand from "./EmulateCommand.js"
/**
 * @since 0.1.0
 */
export * as JobsCommand from "./JobsCommand.js"
/**
 * @since 0.1.0
 */
export * as ServeCommand from "./ServeCommand.js"
/**
 * @since 0.1.0
 */
export * as StoreUrl from "./StoreUrl.js"
