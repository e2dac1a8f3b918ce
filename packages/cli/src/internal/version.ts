/**
 * The version `bulwark --version` prints: the package's (a test keeps the
 * two equal, since package.json sits outside the compiled sources).
 *
 * @internal
 */
export const version = "0.1.0"
