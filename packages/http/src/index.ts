/**
 * @since 0.1.0
 */
export * as ServerHints from "./ServerHints.js"
