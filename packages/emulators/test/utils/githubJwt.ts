import * as crypto from "node:crypto"

/** A fresh RSA key pair as PEM text (2048 bits: GitHub's size; generated once per test file). */
export const keyPair = (): { readonly publicKey: string; readonly privateKey: string } => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
  return {
    publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString()
  }
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

/** Signs `claims` with RS256 (or the header given), as an app would. */
export const sign = (
  claims: Record<string, unknown>,
  privateKey: string,
  header: Record<string, unknown> = { alg: "RS256", typ: "JWT" }
): string => {
  const data = `${encode(header)}.${encode(claims)}`
  const signature = crypto.sign("RSA-SHA256", Buffer.from(data), privateKey).toString("base64url")
  return `${data}.${signature}`
}

/** An app JWT as Octokit's helper mints it: `iat = now − 30`, `exp = iat + 600`. */
export const appJwt = (appId: number | string, privateKey: string, nowSeconds: number): string =>
  sign({ iat: nowSeconds - 30, exp: nowSeconds + 570, iss: appId }, privateKey)
