/**
 * RSA key pairs for the GitHub App tests, made once when a test file loads.
 * A 2048-bit key takes from 50 ms to over a second to make on a loaded
 * machine, all of it blocking the event loop: made inside a live test, it
 * stalls every test running beside it past its timeouts and fault windows.
 */
import * as crypto from "node:crypto"

/** A key pair in the PEM forms GitHub hands out (PKCS#8 private key, SPKI public key). */
export interface PemPair {
  readonly publicKey: string
  readonly privateKey: string
}

const pemPair = (): PemPair => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
  return {
    publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString()
  }
}

/** The app's key: the emulator knows its public half, the client signs with the private one. */
export const app: PemPair = pemPair()

/** A key of some other app: a JWT signed with `app` does not verify against it. */
export const other: PemPair = pemPair()
