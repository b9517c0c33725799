/**
 * What GradCache's per-chunk batch norm changes: the `simclr demo` network and recipe on a real batch
 * (128 synthetic shapes, the demo's augmentations), one step from the same weights, whole batch vs
 * chunks of 64, 32 and 16 images. Prints the loss, and the gradient's cosine similarity and relative
 * L2 difference to the whole batch's (over every trainable weight); with the batch-norm-free check
 * in `simclrStep`'s tests (equal to 1e-5), this is the trade-off GradCache makes.
 *
 *   npm run bench:gradcache -- [--backend=wasm|cpu] [--chunks=64,32,16]
 */
import * as tf from "@tensorflow/tfjs-core"
import { twoViews } from "@simclr/augment"
import { synthetic } from "@simclr/data-stream"
import { buildSimclrModel, pretrainPresets, selectBackend, sgd, simclrStep, trainableWeights } from "simclr"
import { Effect } from "effect"
import { parseFlag } from "./harness.ts"

const backend = parseFlag("backend", "wasm") as "wasm" | "cpu"
const chunks = parseFlag("chunks", "64,32,16").split(",").map(Number)

await Effect.runPromise(selectBackend(backend))
tf.env().set("PROD", true)
const preset = pretrainPresets.demo()
const batch = preset.batchSize
const size = preset.imageSize
const source = synthetic({ size: batch, seed: 0, imageSize: size, maxRotation: 0, color: "gray" })
const pixels = new Float32Array(batch * size * size * 3)
for (let i = 0; i < batch; i++) {
  const image = source.item(i).image
  if (image.kind !== "lazy") throw new Error("synthetic images are lazy")
  const raw = image.render({ height: size, width: size })
  for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) pixels[(i * size * size + p) * 3 + c] = raw.pixels[p * raw.channels + (raw.channels >= 3 ? c : 0)]! / 255
}
const images = tf.tensor4d(pixels, [batch, size, size, 3])
const views = twoViews(images, preset.augment as never, 7)

/** One plain-SGD step (lr 1, no momentum) from the seeded initial weights: returns the loss and −gradient. */
const stepOnce = (chunkSize: number | undefined) => {
  const { model } = buildSimclrModel({ ...preset, encoder: { ...preset.encoder, seed: 1 }, head: { ...preset.head, seed: 2 } })
  const weights = trainableWeights(model)
  const before = Object.values(weights).map((w) => w.dataSync().slice())
  const optimizer = sgd({ momentum: 0 })
  const result = simclrStep(model, views, optimizer.init(weights), { temperature: preset.temperature, optimizer, learningRate: 1, ...(chunkSize === undefined ? {} : { chunkSize }) })
  const delta = Object.values(weights).flatMap((w, i) => Array.from(w.dataSync(), (v, j) => v - before[i]![j]!))
  model.dispose()
  return { loss: result.loss, delta }
}

const whole = stepOnce(undefined)
const norm = Math.hypot(...whole.delta)
console.log(`GradCache vs the whole batch: demo network and recipe, ${batch} images (${2 * batch} views) of ${size}×${size}, backend ${tf.getBackend()}`)
console.log("images per chunk\tloss\tcosine(gradient, whole batch's)\trelative L2 difference")
console.log(`${batch} (whole batch)\t${whole.loss.toFixed(5)}\t1\t0`)
for (const c of chunks) {
  const r = stepOnce(c)
  let dot = 0
  let diff = 0
  for (let i = 0; i < r.delta.length; i++) {
    dot += r.delta[i]! * whole.delta[i]!
    diff += (r.delta[i]! - whole.delta[i]!) ** 2
  }
  console.log(`${c}\t${r.loss.toFixed(5)}\t${(dot / (Math.hypot(...r.delta) * norm)).toFixed(4)}\t${(Math.sqrt(diff) / norm).toFixed(4)}`)
}
