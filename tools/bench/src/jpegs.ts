/**
 * The data-path benchmark's pieces: a folder of photo-like JPEGs, and one pass of @simclr/data-stream
 * over it (decode with sharp, resize, shuffle, batch, prefetch) timed in images/s.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fromDirectory, imageBatches, toAsyncIterable } from "@simclr/data-stream"
import sharp from "sharp"
import { peakRssMb } from "./harness.ts"

export interface Result {
  readonly size: number
  readonly concurrency: number
  readonly cache: boolean
  readonly epochs: Array<{ imagesPerSecond: number; fromCache: number }>
  readonly peakRssMb: number
}

/** 2,000 photo-like JPEGs (gradients, shapes and noise, quality 90), made once and reused. */
const makeImages = async (folder: string, count: number): Promise<void> => {
  mkdirSync(folder, { recursive: true })
  const have = new Set(readdirSync(folder))
  for (let i = 0; i < count; i++) {
    const name = `${String(i).padStart(5, "0")}.jpg`
    if (have.has(name)) continue
    const width = 500
    const height = 375
    const pixels = new Uint8Array(width * height * 3)
    let state = (i + 1) * 2654435761
    const noise = () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      return (state >>> 24) - 128
    }
    const cx = (i * 37) % width
    const cy = (i * 91) % height
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const inside = (x - cx) ** 2 + (y - cy) ** 2 < 90 ** 2
        const at = 3 * (y * width + x)
        pixels[at] = Math.max(0, Math.min(255, (inside ? 200 : (x * 255) / width) + noise() / 8))
        pixels[at + 1] = Math.max(0, Math.min(255, (inside ? 60 : (y * 255) / height) + noise() / 8))
        pixels[at + 2] = Math.max(0, Math.min(255, ((i * 53) % 256) + noise() / 8))
      }
    }
    await sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(folder, name))
  }
}

export const runOne = async (folder: string, size: number, concurrency: number, cache: boolean): Promise<Result> => {
  const work = mkdtempSync(join(tmpdir(), "simclr-bench-cache-"))
  const batchSize = size <= 32 ? 256 : 64
  const epochs: Array<{ imagesPerSecond: number; fromCache: number }> = []
  try {
    const stream = imageBatches(fromDirectory(folder), {
      batchSize,
      imageSize: size,
      epochs: cache ? 2 : 1,
      seed: 1,
      concurrency,
      prefetch: 2,
      ...(cache ? { cache: join(work, "decoded.cache") } : {})
    })
    let epoch = 0
    let images = 0
    let fromCacheAtStart = 0
    let start = performance.now()
    let last = { fromCache: 0 }
    for await (const batch of toAsyncIterable(stream)) {
      if (batch.epoch !== epoch) {
        epochs.push({ imagesPerSecond: (1000 * images) / (performance.now() - start), fromCache: last.fromCache - fromCacheAtStart })
        epoch = batch.epoch
        images = 0
        fromCacheAtStart = last.fromCache
        start = performance.now()
      }
      images += batch.size
      last = batch.stats
    }
    epochs.push({ imagesPerSecond: (1000 * images) / (performance.now() - start), fromCache: last.fromCache - fromCacheAtStart })
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  return { size, concurrency, cache, epochs, peakRssMb: peakRssMb() }
}

/** The temp folder of `count` generated JPEGs, written the first time. */
export const jpegFolder = async (count: number): Promise<string> => {
  const folder = join(tmpdir(), `simclr-bench-jpegs-${count}`)
  if (!existsSync(folder) || readdirSync(folder).length < count) {
    process.stderr.write(`writing ${count} JPEGs (500×375) to ${folder} …\n`)
    await makeImages(folder, count)
  }
  return folder
}
