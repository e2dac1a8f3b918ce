/**
 * @since 0.1.0
 */
export * as ClientErrors from "./ClientErrors.js"
/**
 * @since 0.1.0
 */
export * as GitHub from "./GitHub.js"
/**
 * @since 0.1.0
 */
export * as GitHubAppToken from "./GitHubAppToken.js"
/**
 * @since 0.1.0
 */
export * as GitHubEndpoint from "./GitHubEndpoint.js"
/**
 * @since 0.1.0
 */
export * as GitHubSchema from "./GitHubSchema.js"
/**
 * @since 0.1.0
 */
export * as Llm from "./Llm.js"
/**
 * @since 0.1.0
 */
export * as LlmErrors from "./LlmErrors.js"
/**
 * @since 0.1.0
 */
export * as LlmSchema from "./LlmSchema.js"
/**
 * @since 0.1.0
 */
export * as Ollama from "./Ollama.js"
/**
 * @since 0.1.0
 */
export * as OllamaErrors from "./OllamaErrors.js"
/**
 * @since 0.1.0
 */
export * as OllamaSchema from "./OllamaSchema.js"
/**
 * @since 0.1.0
 */
export * as Orpheus from "./Orpheus.js"
/**
 * @since 0.1.0
 */
export * as OrpheusSchema from "./OrpheusSchema.js"
