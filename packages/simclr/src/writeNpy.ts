/**
 * NumPy's `.npy` format (version 1.0) for float32 matrices, so embeddings open with `numpy.load`.
 *
 * @since 0.1.0
 */
import { rename, writeFile } from "node:fs/promises"

/**
 * The bytes of a `.npy` file holding a little-endian float32 array of `shape` (C order).
 *
 * @category embeddings
 * @since 0.1.0
 */
export const npyBytes = (values: Float32Array, shape: ReadonlyArray<number>): Uint8Array => {
  const count = shape.reduce((a, b) => a * b, 1)
  if (count !== values.length) throw new RangeError(`shape [${shape}] holds ${count} values, got ${values.length}`)
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`
  // Magic (6) + version (2) + header length (2) + header + "\n", padded to a multiple of 64 bytes.
  const unpadded = 10 + header.length + 1
  header = header + " ".repeat((64 - (unpadded % 64)) % 64) + "\n"
  const out = new Uint8Array(10 + header.length + values.byteLength)
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0)
  new DataView(out.buffer).setUint16(8, header.length, true)
  out.set(new TextEncoder().encode(header), 10)
  // Float32Array is platform-endian; every platform Node runs on is little-endian.
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 10 + header.length)
  return out
}

/**
 * Writes a `.npy` file atomically (temporary name, then rename).
 *
 * @category embeddings
 * @since 0.1.0
 */
export const writeNpy = async (path: string, values: Float32Array, shape: ReadonlyArray<number>): Promise<void> => {
  const temp = `${path}.${process.pid}.tmp`
  await writeFile(temp, npyBytes(values, shape))
  await rename(temp, path)
}
