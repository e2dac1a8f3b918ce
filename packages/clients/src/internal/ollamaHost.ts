/**
 * `OLLAMA_HOST` read the way the `ollama` CLI reads it (envconfig.Host): a
 * bare `host[:port]` is http on 11434, an explicit `http://` defaults to 80
 * and `https://` to 443, an empty host is 127.0.0.1, a path is kept. Unlike
 * Ollama, an unreadable port is refused rather than silently replaced.
 */
import * as Either from "effect/Either"

/** Ollama's default address. */
export const defaultHost = "http://127.0.0.1:11434"

/** The base URL (no trailing slash) of an `OLLAMA_HOST` value, or why it cannot be one. */
export const parseHost = (text: string): Either.Either<string, string> => {
  const trimmed = text.trim()
  if (trimmed === "") return Either.right(defaultHost)
  const cut = trimmed.indexOf("://")
  const scheme = cut === -1 ? "http" : trimmed.slice(0, cut).toLowerCase()
  if (scheme !== "http" && scheme !== "https") {
    return Either.left(`expected http or https, got "${scheme}://" in "${text}"`)
  }
  const defaultPort = cut === -1 ? "11434" : scheme === "http" ? "80" : "443"
  const rest = cut === -1 ? trimmed : trimmed.slice(cut + 3)
  const slash = rest.indexOf("/")
  const hostport = slash === -1 ? rest : rest.slice(0, slash)
  const path = slash === -1 ? "" : rest.slice(slash).replace(/\/+$/, "")
  // `[::1]:11434`, `[::1]`, `host:port`, `host`, `:port`
  const bracketed = /^(\[[^\]]*\])(?::(.*))?$/.exec(hostport)
  const lastColon = hostport.lastIndexOf(":")
  const [host, port] = bracketed !== null
    ? [bracketed[1]!, bracketed[2]]
    : lastColon !== -1 && hostport.indexOf(":") === lastColon
    ? [hostport.slice(0, lastColon), hostport.slice(lastColon + 1)]
    : lastColon !== -1
    ? [`[${hostport}]`, undefined] // a bare IPv6 address
    : [hostport, undefined]
  const portText = port === undefined || port === "" ? defaultPort : port
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    return Either.left(`"${portText}" is not a port (0-65535) in "${text}"`)
  }
  const candidate = `${scheme}://${host === "" ? "127.0.0.1" : host}:${portText}${path}`
  const parsed = Either.try(() => new URL(candidate))
  if (Either.isLeft(parsed)) return Either.left(`"${text}" is not a host, host:port or URL`)
  // URL drops a default port (:80 on http): write it back without the trailing slash
  return Either.right(`${parsed.right.origin}${path}`)
}
