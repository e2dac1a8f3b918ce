/**
 * @since 0.1.0
 */
export * as ClientErrors from "./ClientErrors.js"
