/**
 * NT-Xent forward + backward time per call, D = 128, for N ∈ {256, 1024, 4096} (2N embeddings).
 *
 *   npm run bench:losses --workspace @simclr/bench -- --backend=cpu --sizes=256,1024,4096
 *
 * Prints one line per size: ms per call (median of the runs, min–max), the loss, peak RSS so far.
 */
import * as tf from "@tensorflow/tfjs-core"
import { ntXent } from "@simclr/losses"
import { type BenchBackend, BENCH_BACKENDS, parseFlag, peakRssMb, setupBackend, time } from "./harness.ts"

const backend = parseFlag("backend", "cpu") as BenchBackend
if (!BENCH_BACKENDS.includes(backend)) {
  throw new Error(`--backend must be one of ${BENCH_BACKENDS.join(", ")}; got ${backend}`)
}
const sizes = parseFlag("sizes", "256,1024,4096").split(",").map(Number)
const dim = Number(parseFlag("dim", "128"))
const temperature = Number(parseFlag("temperature", "0.1"))

await setupBackend(backend)
console.log(`NT-Xent forward+backward, D=${dim}, τ=${temperature}, backend=${tf.getBackend()}, node ${process.version}`)
console.log("N\tms/call (median)\tmin–max ms\truns\tloss\tpeak RSS MB")
for (const n of sizes) {
  const z1 = tf.randomNormal([n, dim], 0, 1, "float32", 1) as tf.Tensor2D
  const z2 = tf.randomNormal([n, dim], 0, 1, "float32", 2) as tf.Tensor2D
  let loss = Number.NaN
  const step = () => {
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) =>
      ntXent(a as tf.Tensor2D, b as tf.Tensor2D, { temperature })
    )([z1, z2])
    loss = value.dataSync()[0]!
    grads.forEach((g) => g.dataSync())
    tf.dispose([value, grads])
  }
  const runs = n >= 4096 ? 1 : n >= 1024 ? 3 : 10
  const t = time(step, runs, n >= 4096 ? 0 : 1)
  console.log(
    `${n}\t${t.medianMs.toFixed(1)}\t${t.minMs.toFixed(1)}–${t.maxMs.toFixed(1)}\t${t.runs}\t${loss.toFixed(4)}\t${peakRssMb().toFixed(0)}`
  )
  tf.dispose([z1, z2])
}
