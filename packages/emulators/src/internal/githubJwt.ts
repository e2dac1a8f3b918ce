/**
 * GitHub App JWT verification: RS256 against the app's public key, then the
 * claims GitHub checks (`iat`, `exp`, `iss`). Pure: "now" is the caller's
 * (Effect's Clock in the emulator), so every rule is testable without a server.
 */
import * as crypto from "node:crypto"

/** The claims a verified app JWT carried. */
export interface Claims {
  readonly iat: number
  readonly exp: number
  readonly iss: string
}

/** Why a JWT was refused: the message GitHub puts in its 401 basic-error body. */
export interface Refusal {
  readonly _tag: "Refusal"
  readonly message: string
}

/** What the verifier needs: the key, who the app is, how much clock drift to absorb. */
export interface Settings {
  readonly publicKey: crypto.KeyObject
  /** Accepted as `iss` (number or its decimal text). */
  readonly appId: number
  /** Also accepted as `iss`, as GitHub accepts an app's client ID. */
  readonly clientId?: string | undefined
  /** Seconds of drift tolerated for `iat` in the future and for `exp` beyond ten minutes. */
  readonly skewSeconds: number
}

/** The longest life GitHub grants an app JWT: ten minutes after its "now". */
export const maxLifetimeSeconds = 600

/** Wording quoted in public reports of GitHub's answers (unconfirmed by GitHub's docs). */
export const messages = {
  undecodable: "A JSON web token could not be decoded",
  iatInvalid: "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
  iatFuture: "'Issued at' claim ('iat') is in the future",
  expInvalid:
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
  expTooFar: "'Expiration time' claim ('exp') is too far in the future",
  issuer: "Integration not found"
} as const

const refuse = (message: string): Refusal => ({ _tag: "Refusal", message })

const base64url = /^[A-Za-z0-9_-]*$/

const decodeJson = (part: string): unknown => {
  if (!base64url.test(part)) return undefined
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"))
  } catch {
    return undefined
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Verifies `token` at `nowSeconds` (Unix seconds). The order follows what a
 * client can fix: a token that cannot be read or whose signature fails is
 * "could not be decoded"; then `iat`, `exp`, and last the issuer.
 */
export const verify = (token: string, nowSeconds: number, settings: Settings): Claims | Refusal => {
  const parts = token.split(".")
  if (parts.length !== 3) return refuse(messages.undecodable)
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string]
  const header = decodeJson(headerPart)
  const payload = decodeJson(payloadPart)
  if (!isObject(header) || !isObject(payload) || header.alg !== "RS256" || !base64url.test(signaturePart)) {
    return refuse(messages.undecodable)
  }
  let valid = false
  try {
    valid = crypto.verify(
      "RSA-SHA256",
      Buffer.from(`${headerPart}.${payloadPart}`),
      settings.publicKey,
      Buffer.from(signaturePart, "base64url")
    )
  } catch {
    valid = false
  }
  if (!valid) return refuse(messages.undecodable)
  const { exp, iat, iss } = payload
  if (typeof iat !== "number" || !Number.isInteger(iat)) return refuse(messages.iatInvalid)
  if (iat > nowSeconds + settings.skewSeconds) return refuse(messages.iatFuture)
  if (typeof exp !== "number" || !Number.isFinite(exp) || exp <= nowSeconds) return refuse(messages.expInvalid)
  if (exp > nowSeconds + maxLifetimeSeconds + settings.skewSeconds) return refuse(messages.expTooFar)
  const issuer = typeof iss === "number" ? String(iss) : typeof iss === "string" ? iss : undefined
  if (issuer === undefined || (issuer !== String(settings.appId) && issuer !== settings.clientId)) {
    return refuse(messages.issuer)
  }
  return { iat, exp, iss: issuer }
}

/** A PEM text as an RSA public key (a private key is reduced to its public half), or why not. */
export const publicKey = (pem: string): crypto.KeyObject | string => {
  let key: crypto.KeyObject
  try {
    key = crypto.createPublicKey(pem)
  } catch (error) {
    return `not a PEM public key (${(error as Error).message})`
  }
  return key.asymmetricKeyType === "rsa" ? key : `an ${key.asymmetricKeyType ?? "unknown"} key, not RSA`
}
