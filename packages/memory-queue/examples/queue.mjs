// A MoCo-style loop on a tiny model with @simclr/memory-queue, tfjs-core, tfjs-layers and the cpu
// backend only: keys from the momentum network fill a FIFO queue whose rows are the extra negatives
// of an InfoNCE loss; after each optimiser step the momentum network follows the online one.
// Run: node examples/queue.mjs (from packages/memory-queue, after `npm run build`).
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import "@tensorflow/tfjs-backend-cpu"
import {
  createMemoryQueue,
  disposeMemoryQueue,
  enqueue,
  momentumEncoder,
  momentumSchedule,
  momentumUpdate,
  queueNegatives,
  queueState,
  restoreQueue
} from "@simclr/memory-queue"

await tf.setBackend("cpu")
tf.env().set("PROD", true)

// The online network, a stand-in for encoder + projection head: 16 → 32 → BN → ReLU → 8.
const online = tfl.sequential({
  name: "online",
  layers: [
    tfl.layers.dense({ inputShape: [16], units: 32, useBias: false, kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }) }),
    tfl.layers.batchNormalization({ momentum: 0.9 }),
    tfl.layers.reLU(),
    tfl.layers.dense({ units: 8, kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }) })
  ]
})
const target = momentumEncoder(online) // same weights, its own variables, not trainable
let queue = createMemoryQueue({ size: 256, dim: 8 }) // 256 keys × 8 floats × 4 bytes = 8 KiB
const momentum = momentumSchedule({ momentum: 0.99, schedule: "cosine", totalSteps: 60 })
const optimizer = tf.train.adam(1e-2)
const trainable = online.trainableWeights.map((w) => w.read())
const temperature = 0.2
const l2Normalize = (z) => tf.mul(z, tf.rsqrt(tf.maximum(tf.sum(tf.square(z), 1, true), 1e-12)))

const losses = []
for (let step = 0; step < 60; step++) {
  // Two noisy views of 64 random inputs.
  const [view1, view2] = tf.tidy(() => {
    const x = tf.randomNormal([64, 16], 0, 1, "float32", step + 1)
    return [tf.add(x, tf.randomNormal(x.shape, 0, 0.3, "float32", 1000 + step)), tf.add(x, tf.randomNormal(x.shape, 0, 0.3, "float32", 2000 + step))]
  })
  // Keys: the momentum network in training mode (its batch norm uses and updates its own statistics),
  // outside the gradient.
  const keys = tf.tidy(() => l2Normalize(target.apply(view2, { training: true })))
  // [filled, 8]: [0, 8] at step 0, whose loss is then 0 (no negatives yet, as in MoCo's first step).
  const negatives = queueNegatives(queue)
  const loss = optimizer.minimize(() => {
    const q = l2Normalize(online.apply(view1, { training: true }))
    // InfoNCE (MoCo): logits [q·k⁺, q·queueᵀ] / τ, cross-entropy of the positive.
    const positive = tf.sum(tf.mul(q, keys), 1, true)
    const logits = tf.div(tf.concat([positive, tf.matMul(q, negatives, false, true)], 1), temperature)
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.div(tf.squeeze(positive, [1]), temperature)))
  }, true, trainable)
  momentumUpdate(target, online, momentum(step)) // θ_m ← m·θ_m + (1 − m)·θ
  queue = enqueue(queue, keys) // writes the keys, consumes the old queue value
  losses.push(loss.dataSync()[0])
  if (step === 0 || step === 4 || step % 20 === 19) {
    console.log(`step ${step}: loss ${losses.at(-1).toFixed(3)}, queue ${queue.filled}/${queue.size} rows, m ${momentum(step).toFixed(4)}, ${tf.memory().numTensors} tensors`)
  }
  tf.dispose([view1, view2, keys, negatives, loss])
}

// A checkpoint holds the queue (buffer, pointer, rows filled) and the momentum network's weights;
// queueState's tensors belong to the queue (freed by its next enqueue or dispose).
const state = queueState(queue)
const checkpoint = { ...state, ...Object.fromEntries(target.weights.map((w) => [`momentum/${w.originalName}`, w.read()])) }
console.log(`checkpoint: ${Object.keys(checkpoint).length} tensors (${Object.keys(state).join(", ")}, ${target.weights.length} momentum weights)`)
const restored = restoreQueue(checkpoint) // reads the memory_queue/* entries, copies the buffer
const same = tf.tidy(() => tf.all(tf.equal(restored.buffer, queue.buffer)).dataSync()[0] === 1)
console.log(`restored queue: pointer ${restored.pointer}, filled ${restored.filled}, same rows: ${same}`)
const result = { firstLoss: losses[0], lastLoss: losses.at(-1), filled: queue.filled, pointer: queue.pointer, restoredEqual: same && restored.pointer === queue.pointer && restored.filled === queue.filled }

disposeMemoryQueue(restored)
disposeMemoryQueue(queue)
optimizer.dispose()
target.dispose()
online.dispose()
console.log(JSON.stringify({ ...result, tensorsLeft: tf.memory().numTensors }))
