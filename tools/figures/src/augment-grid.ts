/**
 * Draws one image under every @simclr/augment op and under full SimCLR views, as a PNG grid (like
 * Figure 4 of the SimCLR paper), plus a text legend beside it.
 *
 *   npm run augment-grid --workspace @simclr/figures -- [--image photo.jpg] [--out augment-grid.png] [--seed 1]
 *
 * Without --image it draws a synthetic, colourful test scene (no download needed).
 */
import { writeFileSync } from "node:fs"
import { basename, resolve } from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import sharp from "sharp"
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  augmentPresets,
  centerCrop,
  flipLeftRight,
  gaussianBlur,
  resizedCrop,
  rgbToGrayscale,
  simclrView
} from "@simclr/augment"

const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
// npm runs workspace scripts in the workspace folder; resolve paths against where npm was invoked.
const cwd = process.env["INIT_CWD"] ?? process.cwd()
const out = resolve(cwd, flag("out") ?? "augment-grid.png")
const seed = Number(flag("seed") ?? 1)
const tile = 128

/** A synthetic scene: sky gradient, sun, hills, a striped wall and coloured blocks. */
const syntheticScene = (size: number): tf.Tensor4D => {
  const data = new Float32Array(size * size * 3)
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / size
      const v = y / size
      let rgb = [0.35 + 0.4 * v, 0.6 + 0.3 * v, 0.95]
      if ((u - 0.75) ** 2 + (v - 0.22) ** 2 < 0.012) rgb = [1, 0.85, 0.2]
      if (v > 0.62 + 0.08 * Math.sin(u * 9)) rgb = [0.15 + 0.2 * u, 0.55 - 0.2 * v, 0.15]
      if (u > 0.08 && u < 0.38 && v > 0.35 && v < 0.8) rgb = Math.floor(y / 6) % 2 === 0 ? [0.8, 0.25, 0.2] : [0.95, 0.9, 0.85]
      if (u > 0.5 && u < 0.62 && v > 0.5 && v < 0.9) rgb = [0.2, 0.3, 0.85]
      if (u > 0.64 && u < 0.76 && v > 0.56 && v < 0.9) rgb = [0.9, 0.5, 0.9]
      data.set(rgb, (y * size + x) * 3)
    }
  }
  return tf.tensor4d(data, [1, size, size, 3])
}

const loadImage = async (path: string): Promise<tf.Tensor4D> => {
  const { data, info } = await sharp(path).rotate().removeAlpha().resize(256, 256, { fit: "cover" }).raw().toBuffer({ resolveWithObject: true })
  return tf.tidy(() => tf.div(tf.tensor4d(new Uint8Array(data), [1, info.height, info.width, 3], "int32"), 255)) as tf.Tensor4D
}

await tf.setBackend("cpu")
tf.env().set("PROD", true)
const path = flag("image")
const image = path === undefined ? syntheticScene(256) : await loadImage(resolve(cwd, path))
const resize = (x: tf.Tensor4D) => resizedCrop(x, [0, 0, x.shape[1], x.shape[2]], [tile, tile], { method: "bilinear" })
const box = [48, 64, 128, 112] as const

const ops: Array<[string, () => tf.Tensor4D]> = [
  ["original", () => resize(image)],
  ["resizedCrop bilinear", () => resizedCrop(image, box, [tile, tile], { method: "bilinear" })],
  ["resizedCrop bicubic (tf)", () => resizedCrop(image, box, [tile, tile], { method: "bicubic", style: "tf" })],
  ["resizedCrop bicubic (torchvision)", () => resizedCrop(image, box, [tile, tile], { method: "bicubic", style: "torchvision" })],
  ["flipLeftRight", () => resize(flipLeftRight(image))],
  ["centerCrop 0.875", () => centerCrop(image, [tile, tile])],
  ["adjustBrightness 0.5", () => resize(adjustBrightness(image, 0.5))],
  ["adjustBrightness 1.5", () => resize(adjustBrightness(image, 1.5))],
  ["adjustContrast 0.3 (tf)", () => resize(adjustContrast(image, 0.3))],
  ["adjustContrast 0.3 (torchvision)", () => resize(adjustContrast(image, 0.3, { style: "torchvision" }))],
  ["adjustContrast 1.8 (tf)", () => resize(adjustContrast(image, 1.8))],
  ["adjustSaturation 0 (tf)", () => resize(adjustSaturation(image, 0))],
  ["adjustSaturation 0 (torchvision)", () => resize(adjustSaturation(image, 0, { style: "torchvision" }))],
  ["adjustSaturation 1.8 (tf)", () => resize(adjustSaturation(image, 1.8))],
  ["adjustHue +0.2", () => resize(adjustHue(image, 0.2))],
  ["adjustHue −0.2", () => resize(adjustHue(image, -0.2))],
  ["adjustHue 0.5", () => resize(adjustHue(image, 0.5))],
  ["rgbToGrayscale", () => resize(rgbToGrayscale(image))],
  ["gaussianBlur σ 3 reflect", () => resize(gaussianBlur(image, { kernelSize: 25, sigma: 3 }))],
  ["gaussianBlur σ 3 zero", () => resize(gaussianBlur(image, { kernelSize: 25, sigma: 3, padding: "zero" }))]
]
const perRow = 8
const batch = tf.tile(image, [perRow, 1, 1, 1]) as tf.Tensor4D
const viewRows: Array<[string, tf.Tensor4D]> = [
  ["official views", simclrView(batch, augmentPresets.official(tile), seed)],
  ["torchvision views", simclrView(batch, augmentPresets.torchvision(tile), seed)],
  ["cifar10 views (32 px, shown enlarged)", resizedCrop(simclrView(batch, "cifar10", seed), [0, 0, 32, 32], [tile, tile], { method: "bilinear" })],
  ["finetune views", simclrView(batch, augmentPresets.finetune(tile), seed)]
]

const tiles: Array<tf.Tensor3D> = ops.map(([, make]) => tf.tidy(() => tf.squeeze(make(), [0]) as tf.Tensor3D))
while (tiles.length % perRow !== 0) tiles.push(tf.ones([tile, tile, 3]))
for (const [, views] of viewRows) tiles.push(...(tf.unstack(views) as Array<tf.Tensor3D>))
const rows = tiles.length / perRow
const gap = 4
const grid = tf.tidy(() => {
  const padded = tiles.map((t) => tf.pad(t, [[gap, gap], [gap, gap], [0, 0]], 1))
  const lines = Array.from({ length: rows }, (_v, r) => tf.concat(padded.slice(r * perRow, (r + 1) * perRow), 1))
  return tf.mul(tf.concat(lines, 0), 255)
})
const [h, w] = grid.shape
await sharp(Buffer.from(Uint8Array.from(grid.dataSync(), (v) => Math.round(v))), { raw: { width: w!, height: h!, channels: 3 } })
  .png()
  .toFile(out)

const legend = [
  `# ${basename(out)}: rows of ${perRow} tiles, ${tile} px, read left to right`,
  ...ops.map(([name], i) => `row ${Math.floor(i / perRow) + 1}, tile ${(i % perRow) + 1}: ${name}`),
  ...viewRows.map(([name], i) => `row ${Math.ceil(ops.length / perRow) + i + 1}: ${perRow} ${name} (seed ${seed})`)
].join("\n")
writeFileSync(`${out}.txt`, `${legend}\n`)
console.log(legend)
tf.dispose([image, batch, grid, tiles, viewRows.map(([, v]) => v)])
