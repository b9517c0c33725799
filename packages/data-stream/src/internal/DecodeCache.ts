/**
 * The decode cache: one binary file of fixed-size records, one per source index, so any epoch order
 * can fill it and read it.
 *
 *   header (64 bytes): "SIMCLRDC", version u32, height u32, width u32, size u32, key (32 ASCII hex)
 *   status table (size bytes): 0 = empty, 1 = decoded, 2 = failed
 *   records (size × (8 + height·width·3) bytes): crc32 u32, reason length u32, then the RGB pixels
 *     (or, for a failure, the UTF-8 reason)
 *
 * A record is written before its status byte and carries a CRC of its payload, so a crash mid-write
 * leaves at worst a record that fails its check and is decoded again. A file whose header does not
 * match (other source, size or options) is replaced.
 */
import { Effect } from "effect"
import { type FileHandle, open, rename, rm } from "node:fs/promises"
import { crc32 } from "node:zlib"
import { DecodeCacheError, ImageDecodeError, reasonOf } from "../DataStreamError.ts"
import type { RawImage } from "../Source.ts"

const MAGIC = "SIMCLRDC"
const VERSION = 1
const HEADER = 64
const EMPTY = 0
const DECODED = 1
const FAILED = 2

export interface DecodeCache {
  readonly path: string
  /** Records already filled when the cache was opened. */
  readonly filledAtOpen: number
  readonly has: (index: number) => boolean
  readonly read: (index: number, id: string) => Effect.Effect<RawImage | ImageDecodeError | undefined, DecodeCacheError>
  readonly write: (index: number, result: RawImage | ImageDecodeError) => Effect.Effect<void, DecodeCacheError>
}

const header = (height: number, width: number, size: number, key: string): Uint8Array => {
  const bytes = new Uint8Array(HEADER)
  const view = new DataView(bytes.buffer)
  bytes.set(new TextEncoder().encode(MAGIC), 0)
  view.setUint32(8, VERSION, true)
  view.setUint32(12, height, true)
  view.setUint32(16, width, true)
  view.setUint32(20, size, true)
  bytes.set(new TextEncoder().encode(key.padEnd(32, "0").slice(0, 32)), 24)
  return bytes
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i])

/** Opens (or creates) the cache as a scoped resource: the file is closed when the scope closes. */
export const openDecodeCache = (
  path: string,
  options: { readonly height: number; readonly width: number; readonly size: number; readonly key: string }
) => {
  const { height, width, size, key } = options
  const pixels = height * width * 3
  const recordSize = 8 + pixels
  const recordAt = (index: number) => HEADER + size + index * recordSize
  const expected = header(height, width, size, key)
  const fail = (what: string) => (error: unknown) => new DecodeCacheError({ path, reason: `${what}: ${reasonOf(error)}` })

  const acquire = Effect.tryPromise({
    try: async () => {
      let handle: FileHandle | undefined = await open(path, "r+").catch(() => undefined)
      const status = new Uint8Array(size)
      if (handle !== undefined) {
        const found = new Uint8Array(HEADER)
        const { bytesRead } = await handle.read(found, 0, HEADER, 0)
        const { size: fileSize } = await handle.stat()
        if (bytesRead === HEADER && sameBytes(found, expected) && fileSize === recordAt(size)) {
          await handle.read(status, 0, size, HEADER)
        } else {
          await handle.close()
          handle = undefined
        }
      }
      if (handle === undefined) {
        // A fresh file, sized in full (sparse where the file system allows) and renamed into place.
        const temp = `${path}.${process.pid}.tmp`
        const created = await open(temp, "w+")
        try {
          await created.truncate(recordAt(size))
          await created.write(expected, 0, HEADER, 0)
          await created.close()
          await rename(temp, path)
        } catch (error) {
          await created.close().catch(() => undefined)
          await rm(temp, { force: true })
          throw error
        }
        handle = await open(path, "r+")
      }
      return { handle, status }
    },
    catch: fail("cannot open")
  })

  return Effect.map(
    Effect.acquireRelease(acquire, ({ handle }) => Effect.promise(() => handle.close().catch(() => undefined))),
    ({ handle, status }): DecodeCache => ({
      path,
      filledAtOpen: status.reduce((n, s) => n + (s === EMPTY ? 0 : 1), 0),
      has: (index) => status[index] !== EMPTY,
      read: (index, id) =>
        Effect.tryPromise({
          try: async () => {
            const record = new Uint8Array(recordSize)
            await handle.read(record, 0, recordSize, recordAt(index))
            const view = new DataView(record.buffer)
            const length = status[index] === DECODED ? pixels : view.getUint32(4, true)
            const payload = record.subarray(8, 8 + Math.min(length, pixels))
            if (crc32(payload) !== view.getUint32(0, true)) {
              status[index] = EMPTY // torn or damaged record: decode again
              return undefined
            }
            if (status[index] === FAILED) return new ImageDecodeError({ id, reason: new TextDecoder().decode(payload) })
            return { pixels: payload, height, width, channels: 3 } satisfies RawImage
          },
          catch: fail(`cannot read record ${index}`)
        }),
      write: (index, result) =>
        Effect.tryPromise({
          try: async () => {
            const failed = result instanceof ImageDecodeError
            const payload = failed ? new TextEncoder().encode(result.reason).subarray(0, pixels) : result.pixels
            if (!failed && payload.length !== pixels) throw new Error(`record ${index}: ${payload.length} bytes, expected ${pixels}`)
            const head = new Uint8Array(8)
            const view = new DataView(head.buffer)
            view.setUint32(0, crc32(payload), true)
            view.setUint32(4, payload.length, true)
            await handle.writev([head, payload], recordAt(index))
            const mark = new Uint8Array([failed ? FAILED : DECODED])
            await handle.write(mark, 0, 1, HEADER + index)
            status[index] = mark[0]!
          },
          catch: fail(`cannot write record ${index}`)
        })
    })
  )
}
