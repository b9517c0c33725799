/**
 * The data path alone, images/s: a folder of 2,000 generated 500×375 JPEGs streamed through
 * @simclr/data-stream (decode with sharp, resize, shuffle, batch, prefetch) to 32×32 (batch 256) and
 * 224×224 (batch 64) batches, at decode concurrency 1, 2 and 4, without and with the decode cache
 * (cold = the epoch that decodes and writes the cache, warm = an epoch read from it). Each
 * configuration runs in its own process so its peak RSS is its own. The consumer only drains the
 * batches (no tensors), so this is the rate the data path can feed a training step.
 *
 * It also times the synthetic dataset's drawing (ms per image at 32×32 and 224×224).
 *
 *   npm run bench:data-stream --workspace @simclr/bench -- [--images=2000] [--sizes=32,224] [--concurrency=1,2,4]
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { availableParallelism, cpus, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { fromDirectory, imageBatches, synthetic, toAsyncIterable } from "@simclr/data-stream"
import sharp from "sharp"
import { parseFlag, peakRssMb } from "./harness.ts"

interface Result {
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

const runOne = async (folder: string, size: number, concurrency: number, cache: boolean): Promise<Result> => {
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

const one = parseFlag("one", "")
if (one !== "") {
  const [folder, size, concurrency, cache] = one.split(",")
  console.log(JSON.stringify(await runOne(folder!, Number(size), Number(concurrency), cache === "1")))
} else {
  const count = Number(parseFlag("images", "2000"))
  const sizes = parseFlag("sizes", "32,224").split(",").map(Number)
  const levels = parseFlag("concurrency", "1,2,4").split(",").map(Number)
  const folder = join(tmpdir(), `simclr-bench-jpegs-${count}`)
  if (!existsSync(folder) || readdirSync(folder).length < count) {
    console.error(`writing ${count} JPEGs (500×375) to ${folder} …`)
    await makeImages(folder, count)
  }
  console.log(`data path: ${count} JPEGs 500×375 from ${folder}; ${cpus()[0]?.model ?? "?"}, ${availableParallelism()} cores, node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips})`)
  for (const side of [32, 224]) {
    const source = synthetic({ size: 1000, imageSize: side })
    const render = (i: number) => {
      const image = source.item(i).image
      if (image.kind === "lazy") image.render()
    }
    for (let i = 0; i < 20; i++) render(i)
    const draws = side <= 32 ? 1000 : 100
    const start = performance.now()
    for (let i = 0; i < draws; i++) render(i)
    console.log(`synthetic: ${((performance.now() - start) / draws).toFixed(3)} ms to draw one ${side}×${side} image`)
  }
  console.log("target\tbatch\tconcurrency\tcache\timages/s (epoch 1)\timages/s (epoch 2, from cache)\tpeak RSS MB")
  const self = fileURLToPath(import.meta.url)
  for (const size of sizes) {
    for (const cache of [false, true]) {
      for (const concurrency of levels) {
        const out = execFileSync(process.execPath, [self, `--one=${folder},${size},${concurrency},${cache ? 1 : 0}`], { encoding: "utf8" })
        const r = JSON.parse(out.trim().split("\n").at(-1)!) as Result
        const [first, second] = r.epochs
        console.log(
          `${size}×${size}\t${size <= 32 ? 256 : 64}\t${concurrency}\t${cache ? "on" : "off"}\t${first!.imagesPerSecond.toFixed(0)}\t${second === undefined ? "–" : `${second.imagesPerSecond.toFixed(0)} (${second.fromCache} cached)`}\t${r.peakRssMb.toFixed(0)}`
        )
      }
    }
  }
}
