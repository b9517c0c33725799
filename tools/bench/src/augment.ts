/**
 * One full SimCLR view per batch (crop + flip + colour + grayscale + blur), ms per batch:
 * 256 × 32×32 and 64 × 224×224 inputs, presets "official" and "torchvision".
 *
 *   npm run bench:augment --workspace @simclr/bench -- --backend=cpu|wasm [--cases=32,224] [--runs=3]
 */
import * as tf from "@tensorflow/tfjs-core"
import { augmentPresets, simclrView } from "@simclr/augment"
import { type BenchBackend, BENCH_BACKENDS, parseFlag, peakRssMb, setupBackend, time } from "./harness.ts"

const backend = parseFlag("backend", "cpu") as BenchBackend
if (!BENCH_BACKENDS.includes(backend)) throw new Error(`--backend must be one of ${BENCH_BACKENDS.join(", ")}; got ${backend}`)
const cases = parseFlag("cases", "32,224").split(",").map(Number)
const runs = Number(parseFlag("runs", "3"))

await setupBackend(backend)
console.log(`one SimCLR view per batch, backend=${tf.getBackend()}, node ${process.version}`)
console.log("preset\tbatch × size\tms/batch (median)\tmin–max ms\truns\timages/s\tpeak RSS MB")
for (const side of cases) {
  const batch = side <= 32 ? 256 : 64
  const images = tf.randomUniform([batch, side, side, 3], 0, 1, "float32", 1)
  for (const preset of ["official", "torchvision"] as const) {
    let seed = 0
    const config = { ...augmentPresets[preset](side), validateRange: false }
    const n = side > 32 && backend === "cpu" ? 1 : runs
    const t = time(() => {
      const view = simclrView(images, config, seed++)
      view.dataSync()
      view.dispose()
    }, n, 1)
    console.log(
      `${preset}\t${batch} × ${side}²\t${t.medianMs.toFixed(0)}\t${t.minMs.toFixed(0)}–${t.maxMs.toFixed(0)}\t${t.runs}\t${((1000 * batch) / t.medianMs).toFixed(1)}\t${peakRssMb().toFixed(0)}`
    )
  }
  images.dispose()
}
