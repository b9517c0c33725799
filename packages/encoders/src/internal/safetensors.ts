/**
 * A reader for the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length, a JSON header of {name: {dtype, shape, data_offsets}}, then raw
 * little-endian data. Pure data: the header goes through `JSON.parse` and the data through a `DataView`,
 * nothing else; nothing in the file is executed (unlike a pickled `.pt`). The offsets are validated as
 * the reference implementation does: the tensors tile the data exactly, without overlaps, gaps or
 * trailing bytes.
 */
import { InvalidArgumentError } from "@simclr/core"

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

interface Entry {
  readonly name: string
  readonly dtype: string
  readonly shape: ReadonlyArray<number>
  readonly count: number
  readonly size: number
  readonly begin: number
  readonly end: number
}

const byOffsets = (a: Entry, b: Entry): number => a.begin - b.begin || a.end - b.end

const decode = (view: DataView, dataStart: number, e: Entry): Float32Array => {
  const values = new Float32Array(e.count)
  for (let i = 0; i < e.count; i++) {
    const o = dataStart + e.begin + i * e.size
    values[i] =
      e.dtype === "F32" ? view.getFloat32(o, true)
      : e.dtype === "F64" ? view.getFloat64(o, true)
      : e.dtype === "F16" ? halfToFloat(view.getUint16(o, true))
      : e.dtype === "BF16" ? new Float32Array(new Uint32Array([view.getUint16(o, true) << 16]).buffer)[0]!
      : e.dtype === "I64" ? Number(view.getBigInt64(o, true))
      : e.dtype === "I32" ? view.getInt32(o, true)
      : e.dtype === "I16" ? view.getInt16(o, true)
      : e.dtype === "I8" ? view.getInt8(o)
      : view.getUint8(o)
  }
  return values
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
  const entries: Array<Entry> = []
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") continue
    if (typeof entry !== "object" || entry === null) fail(`tensor "${name}": malformed entry ${JSON.stringify(entry)}`)
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown }
    const size = typeof e.dtype === "string" && Object.hasOwn(BYTES, e.dtype) ? BYTES[e.dtype] : undefined
    if (size === undefined) fail(`tensor "${name}": unsupported dtype ${JSON.stringify(e.dtype)} (supported: ${Object.keys(BYTES).join(", ")})`)
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor "${name}": malformed shape ${JSON.stringify(e.shape)}`)
    const offsets = e.data_offsets
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor "${name}": malformed data_offsets ${JSON.stringify(offsets)}`)
    }
    const [begin, end] = offsets as [number, number]
    const count = (e.shape as Array<number>).reduce((a, b) => a * b, 1)
    if (end < begin || end - begin !== count * size!) fail(`tensor "${name}": data_offsets [${begin}, ${end}] do not hold ${count} × ${size} bytes`)
    if (end > dataLength) fail(`truncated: tensor "${name}" ends at byte ${end} of the data, which has only ${dataLength}`)
    entries.push({ name, dtype: e.dtype as string, shape: e.shape as Array<number>, count, size: size!, begin, end })
  }
  // The tensors must tile the data: no two share a byte, no byte belongs to none.
  let covered = 0
  let previous: Entry | undefined
  for (const e of entries.toSorted(byOffsets)) {
    if (e.begin < covered) fail(`tensor "${e.name}" (data_offsets [${e.begin}, ${e.end}]) overlaps tensor "${previous!.name}" (data_offsets [${previous!.begin}, ${previous!.end}])`)
    if (e.begin > covered) fail(`data bytes [${covered}, ${e.begin}) belong to no tensor (before tensor "${e.name}")`)
    covered = e.end
    previous = e
  }
  if (covered !== dataLength) fail(`data bytes [${covered}, ${dataLength}) after the last tensor belong to no tensor`)
  const out = new Map<string, SafeTensor>()
  for (const e of entries) out.set(e.name, { dtype: e.dtype, shape: e.shape, values: decode(view, dataStart, e) })
  return out
}
