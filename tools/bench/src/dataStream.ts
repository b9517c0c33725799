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
import { availableParallelism, cpus } from "node:os"
import { fileURLToPath } from "node:url"
import { synthetic } from "@simclr/data-stream"
import sharp from "sharp"
import { parseFlag } from "./harness.ts"
import { jpegFolder, type Result, runOne } from "./jpegs.ts"

const one = parseFlag("one", "")
if (one !== "") {
  const [folder, size, concurrency, cache] = one.split(",")
  console.log(JSON.stringify(await runOne(folder!, Number(size), Number(concurrency), cache === "1")))
} else {
  const count = Number(parseFlag("images", "2000"))
  const sizes = parseFlag("sizes", "32,224").split(",").map(Number)
  const levels = parseFlag("concurrency", "1,2,4").split(",").map(Number)
  const folder = await jpegFolder(count)
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
