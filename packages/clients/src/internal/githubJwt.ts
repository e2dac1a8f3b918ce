/**
 * The GitHub App JWT: RS256 over `{ iat, exp, iss }` with node's crypto.
 * `iat` is 60 s in the past and `exp` 9 minutes ahead (ten minutes after
 * `iat`), as GitHub's documentation advises, so a server clock up to a minute
 * behind or ahead of ours still accepts it.
 */
import * as crypto from "node:crypto"

/** Seconds `iat` is set in the past, for clock drift (GitHub's advice). */
export const issuedBeforeSeconds = 60

/** Seconds from `iat` to `exp`: GitHub refuses more than ten minutes from its "now". */
export const lifetimeSeconds = 600

/** The PEM as an RSA private key, or why not (never quoting the key). */
export const privateKey = (pem: string): crypto.KeyObject | string => {
  // Environment variables often carry the PEM with its newlines escaped.
  const text = pem.includes("-----BEGIN") && !pem.includes("\n") ? pem.replace(/\\n/g, "\n") : pem
  let key: crypto.KeyObject
  try {
    key = crypto.createPrivateKey({ key: text, format: "pem" })
  } catch {
    return "not a PEM private key (PKCS#1 or PKCS#8)"
  }
  return key.asymmetricKeyType === "rsa" ? key : `an ${key.asymmetricKeyType ?? "unknown"} key, not RSA`
}

/** The `iss` claim: a numeric app id as a number, a client id (`Iv…`) as text. */
export const issuer = (appId: string): string | number => /^\d+$/.test(appId) ? Number(appId) : appId

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

/** The claims of a JWT minted at `nowMillis` (Effect's Clock). */
export const claims = (appId: string, nowMillis: number) => {
  const iat = Math.floor(nowMillis / 1000) - issuedBeforeSeconds
  return { iat, exp: iat + lifetimeSeconds, iss: issuer(appId) }
}

/** A signed app JWT. */
export const sign = (appId: string, key: crypto.KeyObject, nowMillis: number): string => {
  const data = `${encode({ alg: "RS256", typ: "JWT" })}.${encode(claims(appId, nowMillis))}`
  return `${data}.${crypto.sign("RSA-SHA256", Buffer.from(data), key).toString("base64url")}`
}
