// SimCLR's loss on your own TF.js model: a small MLP learns, from unlabeled pairs of views alone, to
// keep what the two views of an item share and to ignore what the "augmentation" changes.
//
//   node packages/losses/examples/ntxent.mjs [--steps=300] [--seed=1]
//
// Data: an item is an 8-d signal; a view of it is the signal plus a little noise, next to 24 nuisance
// features drawn anew for every view (as colour jitter is), all mixed by a fixed random 32 × 32 matrix.
// At first the nuisance dominates the embeddings and views rarely find each other among the 2N − 2
// others; NT-Xent teaches the encoder to discard it.
import * as tf from "@tensorflow/tfjs"
import { ntXent, ntXentMetrics } from "@simclr/losses"

const flag = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback)
const steps = flag("steps", 300)
const seed = flag("seed", 1)
const batch = 64
const signal = 8
const dim = 32

tf.env().set("PROD", true)
await tf.setBackend("cpu")

let drawSeed = seed * 1000
const nextSeed = () => ++drawSeed
const mixing = tf.randomNormal([dim, dim], 0, 1 / Math.sqrt(dim), "float32", nextSeed())

const twoViews = () =>
  tf.tidy(() => {
    const items = tf.randomNormal([batch, signal], 0, 1, "float32", nextSeed())
    const view = () => {
      const kept = tf.add(items, tf.randomNormal([batch, signal], 0, 0.1, "float32", nextSeed()))
      const nuisance = tf.randomNormal([batch, dim - signal], 0, 2, "float32", nextSeed())
      return tf.matMul(tf.concat([kept, nuisance], 1), mixing)
    }
    return [view(), view()]
  })

const encoder = tf.sequential({
  layers: [
    tf.layers.dense({ inputShape: [dim], units: 128, activation: "relu", kernelInitializer: tf.initializers.heNormal({ seed }) }),
    tf.layers.dense({ units: 64, kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 1 }) })
  ]
})
const optimizer = tf.train.adam(3e-3)
const options = { temperature: 0.2 }

console.log(`NT-Xent on a ${encoder.countParams()}-parameter MLP, batch ${batch} (2N = ${2 * batch} views), τ = ${options.temperature}`)
console.log("step\tloss\tcontrastive accuracy\tentropy")
const tensorsAtStart = tf.memory().numTensors
let first
let last
for (let step = 0; step <= steps; step++) {
  const [x1, x2] = twoViews()
  const report = step % 50 === 0
  const loss = optimizer.minimize(() => ntXent(encoder.apply(x1), encoder.apply(x2), options), true)
  if (report) {
    const metrics = tf.tidy(() => ntXentMetrics(encoder.apply(x1), encoder.apply(x2), options))
    const row = [loss.dataSync()[0], metrics.accuracy.dataSync()[0], metrics.entropy.dataSync()[0]]
    console.log(`${step}\t${row[0].toFixed(4)}\t${row[1].toFixed(3)}\t${row[2].toFixed(3)}`)
    first ??= row
    last = row
    tf.dispose(metrics)
  }
  tf.dispose([loss, x1, x2])
}
console.log(`loss ${first[0].toFixed(3)} → ${last[0].toFixed(3)} (chance level ln(2N − 1) = ${Math.log(2 * batch - 1).toFixed(3)}); ` +
  `accuracy ${first[1].toFixed(3)} → ${last[1].toFixed(3)}; live tensors ${tensorsAtStart} at start, ${tf.memory().numTensors} at the end (the optimiser's slots)`)
