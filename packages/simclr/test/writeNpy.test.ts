import { describe, expect, it } from "vitest"
import { npyBytes } from "../src/index.ts"

/** Reads a .npy file back by its spec: magic, version 1.0, a little-endian header length, the header, the data. */
const parse = (bytes: Uint8Array) => {
  const magic = Array.from(bytes.subarray(0, 8))
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true)
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength))
  const data = new Float32Array(bytes.slice(10 + headerLength).buffer)
  return { magic, headerLength, header, data }
}

describe("npyBytes", () => {
  it("writes NumPy format 1.0: magic, a 64-byte-aligned header with dtype <f4, C order and the shape, then the values", () => {
    const values = Float32Array.from([1, -2.5, 3, 4, 5.25, 6])
    const { magic, headerLength, header, data } = parse(npyBytes(values, [2, 3]))
    expect(magic).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0])
    expect((10 + headerLength) % 64).toBe(0)
    expect(header.trimEnd()).toBe("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }")
    expect(header.endsWith("\n")).toBe(true)
    expect(Array.from(data)).toEqual(Array.from(values))
    expect(parse(npyBytes(Float32Array.from([7]), [1])).header.trimEnd()).toBe("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }")
    expect(() => npyBytes(values, [4, 2])).toThrow(/shape \[4,2\] holds 8 values, got 6/)
  })
})
