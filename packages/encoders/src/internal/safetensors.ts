/**
 * A reader for the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length, a JSON header of {name: {dtype, shape, data_offsets}}, then raw
 * little-endian data. Pure data: nothing in the file is executed (unlike a pickled `.pt`).
 */
import { InvalidArgumentError } from "../SimclrError.ts"

export interface SafeTensor {
  readonly dtype: string
  readonly shape: ReadonlyArray<number>
  /** Values as float32 (floating dtypes) or as numbers (integer dtypes). */
  readonly values: Float32Array
}

const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 }

const halfToFloat = (h: number): number => {
  const sign = h & 0x8000 ? -1 : 1
  const exponent = (h >> 10) & 0x1f
  const fraction = h & 0x3ff
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024)
  if (exponent === 31) return fraction === 0 ? sign * Infinity : Number.NaN
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024)
}

/** Parses a safetensors file; `source` names it in errors. */
export const readSafetensors = (bytes: Uint8Array, source: string): Map<string, SafeTensor> => {
  const fail = (message: string): never => {
    throw new InvalidArgumentError("weights", `${source}: ${message}`)
  }
  if (bytes.byteLength < 8) fail(`not a safetensors file: ${bytes.byteLength} bytes, too short for the 8-byte header length`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const headerLength = view.getBigUint64(0, true)
  if (headerLength > BigInt(bytes.byteLength - 8)) {
    fail(`truncated or not a safetensors file: the header claims ${headerLength} bytes but only ${bytes.byteLength - 8} follow`)
  }
  const n = Number(headerLength)
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)))
  } catch (cause) {
    fail(`malformed header (not UTF-8 JSON): ${(cause as Error).message}`)
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("malformed header: not a JSON object")
  const dataStart = 8 + n
  const dataLength = bytes.byteLength - dataStart
  const out = new Map<string, SafeTensor>()
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") continue
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown }
    const size = typeof e.dtype === "string" ? BYTES[e.dtype] : undefined
    if (size === undefined) fail(`tensor "${name}": unsupported dtype ${JSON.stringify(e.dtype)}`)
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor "${name}": malformed shape`)
    const offsets = e.data_offsets
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      fail(`tensor "${name}": malformed data_offsets`)
    }
    const [begin, end] = offsets as [number, number]
    const count = (e.shape as Array<number>).reduce((a, b) => a * b, 1)
    if (end < begin || end - begin !== count * size!) fail(`tensor "${name}": data_offsets [${begin}, ${end}] do not hold ${count} × ${size} bytes`)
    if (end > dataLength) fail(`truncated: tensor "${name}" ends at byte ${end} of the data, which has only ${dataLength}`)
    const at = (i: number) => dataStart + begin + i * size!
    const values = new Float32Array(count)
    const dtype = e.dtype as string
    for (let i = 0; i < count; i++) {
      const o = at(i)
      values[i] =
        dtype === "F32" ? view.getFloat32(o, true)
        : dtype === "F64" ? view.getFloat64(o, true)
        : dtype === "F16" ? halfToFloat(view.getUint16(o, true))
        : dtype === "BF16" ? new Float32Array(new Uint32Array([view.getUint16(o, true) << 16]).buffer)[0]!
        : dtype === "I64" ? Number(view.getBigInt64(o, true))
        : dtype === "I32" ? view.getInt32(o, true)
        : dtype === "I16" ? view.getInt16(o, true)
        : dtype === "I8" ? view.getInt8(o)
        : view.getUint8(o)
    }
    out.set(name, { dtype, shape: e.shape as Array<number>, values })
  }
  return out
}
