/**
 * @simclr/memory-queue installed alone next to tfjs-core, tfjs-layers and the cpu backend: the queue
 * wraps around as a FIFO, the momentum network of a tfl.sequential model is a non-trainable copy whose
 * batch norm moves its own statistics, the momentum update is m·θ_m + (1 − m)·θ, and the queue's state
 * round-trips; every value is checked against one computed here.
 */
import { expect, it } from "vitest"
import { describeStandalone } from "./install.ts"

/** Row j of the batch the script's rows(from, n) makes: [from·10 + 2j, from·10 + 2j + 1]. */
const batch = (from: number, n: number): Array<Array<number>> => Array.from({ length: n }, (_, j) => [from * 10 + 2 * j, from * 10 + 2 * j + 1])

describeStandalone(
  "@simclr/memory-queue",
  (installed) => {
    it("queue, momentum network, momentum update and state work with tfjs-core, tfjs-layers and the cpu backend only", () => {
      const out = installed().runScript(`import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import "@tensorflow/tfjs-backend-cpu"
import { createMemoryQueue, disposeMemoryQueue, enqueue, InvalidArgumentError, momentumEncoder, momentumSchedule, momentumUpdate, queueNegatives, queueState, restoreQueue } from "@simclr/memory-queue"
await tf.setBackend("cpu")
const start = tf.memory().numTensors
const rows = (from, n) => tf.tensor2d(Array.from({ length: n * 2 }, (_, i) => from * 10 + i), [n, 2])

// Seven rows (values 10, 11, … two per row) into a queue of five: the last two wrap to rows 0 and 1.
let queue = createMemoryQueue({ size: 5, dim: 2 })
const a = rows(1, 3)
const b = rows(4, 4)
queue = enqueue(queue, a)
const partial = queueNegatives(queue)
queue = enqueue(queue, b)
const negatives = queueNegatives(queue)
tf.dispose([a, b])

// The online network: BN (decay 0.5) then a dense layer, with weights set by hand.
const online = tfl.sequential({ layers: [tfl.layers.batchNormalization({ inputShape: [2], momentum: 0.5 }), tfl.layers.dense({ units: 1 })] })
const set = (model, kernel, bias) => tf.tidy(() => {
  model.layers[1].weights[0].write(tf.tensor2d(kernel, [2, 1]))
  model.layers[1].weights[1].write(tf.tensor1d([bias]))
})
set(online, [1, 2], 3)
const target = momentumEncoder(online)
set(online, [5, -2], 7)
momentumUpdate(target, online, momentumSchedule({ momentum: 0.75 })(0))
// A training-mode pass of the target on a batch of mean [2, 4] moves only its own moving mean.
const x = tf.tensor2d([[1, 2], [3, 6]])
tf.tidy(() => { target.apply(x, { training: true }) })
x.dispose()
const read = (model) => Object.fromEntries(model.weights.map((w) => [w.originalName.split("/").at(-1), Array.from(w.read().dataSync())]))

// The state round trip: the restored queue continues exactly as the original.
const restored = restoreQueue(queueState(queue))
const c = rows(8, 1)
queue = enqueue(queue, c)
const again = enqueue(restored, c)
c.dispose()
let refused = ""
const wide = tf.zeros([1, 3])
try { enqueue(again, wide) } catch (e) { refused = e instanceof InvalidArgumentError ? e.argument : String(e) }
wide.dispose()
const result = {
  partial: partial.arraySync(),
  negatives: negatives.arraySync(),
  pointer: queue.pointer,
  filled: queue.filled,
  sameAfterRestore: JSON.stringify(queue.buffer.arraySync()) === JSON.stringify(again.buffer.arraySync()) && queue.pointer === again.pointer,
  target: read(target),
  online: read(online),
  trainable: target.trainableWeights.length,
  refused
}
tf.dispose([partial, negatives])
disposeMemoryQueue(queue)
disposeMemoryQueue(again)
target.dispose()
online.dispose()
console.log(JSON.stringify({ ...result, leaked: tf.memory().numTensors - start }))
`)
      const r = JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, unknown>
      const written = [...batch(1, 3), ...batch(4, 4)]
      // One row at a time into 5 rows: keys 0–4 to rows 0–4, keys 5, 6 to rows 0, 1.
      const fifo = [written[5], written[6], written[2], written[3], written[4]]
      const kernel0 = [1, 2]
      const kernel1 = [5, -2]
      expect(r).toEqual({
        partial: batch(1, 3),
        negatives: fifo,
        pointer: 3,
        filled: 5,
        sameAfterRestore: true,
        // 0.75·θ_m + 0.25·θ (exact in float32 for these values); the moving mean moved by 0.5·(batch mean − 0), the online one stayed 0.
        target: {
          gamma: [1, 1],
          beta: [0, 0],
          kernel: kernel0.map((v, i) => 0.75 * v + 0.25 * kernel1[i]!),
          bias: [0.75 * 3 + 0.25 * 7],
          moving_mean: [1, 2],
          // Biased batch variance [1, 4]: 1 − 0.5·(1 − 1), 1 − 0.5·(1 − 4).
          moving_variance: [1, 2.5]
        },
        online: { gamma: [1, 1], beta: [0, 0], kernel: kernel1, bias: [7], moving_mean: [0, 0], moving_variance: [1, 1] },
        trainable: 0,
        refused: "keys",
        leaked: 0
      })
    })
  },
  ["@tensorflow/tfjs-core", "@tensorflow/tfjs-layers"]
)
