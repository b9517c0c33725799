/**
 * Test images made on the fly with sharp, and temporary folders that are removed after each suite.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import sharp from "sharp"
import { afterAll } from "vitest"

/** A temporary folder for this test file, removed after all its tests. */
export const useTempDir = (): (() => string) => {
  let dir: string | undefined
  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })
  return () => (dir ??= mkdtempSync(join(tmpdir(), "simclr-data-stream-")))
}

/** An RGB image whose pixel (y, x) is a function of (y, x, seed): smooth enough to survive JPEG. */
export const patternPixels = (height: number, width: number, seed = 0): Uint8Array => {
  const out = new Uint8Array(height * width * 3)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = 3 * (y * width + x)
      out[at] = (Math.round((255 * x) / Math.max(1, width - 1)) + 37 * seed) % 256
      out[at + 1] = (Math.round((255 * y) / Math.max(1, height - 1)) + 91 * seed) % 256
      out[at + 2] = (128 + 53 * seed) % 256
    }
  }
  return out
}

/** A solid-colour image of any format sharp writes. */
export const solid = (
  width: number,
  height: number,
  colour: { r: number; g: number; b: number },
  format: "png" | "jpeg" | "webp" | "gif" | "tiff" | "avif" = "png"
): Promise<Buffer> => {
  const image = sharp({ create: { width, height, channels: 3, background: colour } })
  // TIFF defaults to JPEG compression in sharp; LZW keeps it lossless.
  return (format === "tiff" ? image.tiff({ compression: "lzw" }) : image[format]()).toBuffer()
}

/** Encodes raw RGB pixels. */
export const encode = (pixels: Uint8Array, width: number, height: number, format: "png" | "jpeg" | "webp" = "png"): Promise<Buffer> =>
  sharp(pixels, { raw: { width, height, channels: 3 } })[format](format === "jpeg" ? { quality: 95 } : {}).toBuffer()

export const writeFile = (path: string, bytes: Uint8Array | string): string => {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, bytes)
  return path
}

/** Builds an IDX file: magic 0 0 0x08 ndim, big-endian sizes, then the bytes. */
export const idxBytes = (shape: ReadonlyArray<number>, data: Uint8Array): Uint8Array => {
  const header = new Uint8Array(4 + 4 * shape.length)
  const view = new DataView(header.buffer)
  header[2] = 0x08
  header[3] = shape.length
  shape.forEach((s, i) => view.setUint32(4 + 4 * i, s, false))
  const out = new Uint8Array(header.length + data.length)
  out.set(header)
  out.set(data, header.length)
  return out
}
