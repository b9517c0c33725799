import { createHash } from "node:crypto"

/** A short, stable hash of the given parts. */
export const fingerprintOf = (...parts: ReadonlyArray<string | number | Uint8Array>): string => {
  const hash = createHash("sha256")
  for (const part of parts) {
    hash.update(typeof part === "string" || typeof part === "number" ? `${typeof part}:${part}\u0000` : part)
  }
  return hash.digest("hex").slice(0, 32)
}
