/**
 * One whole SimCLR pre-training step (two augmented views, encoder + head in training mode, NT-Xent,
 * gradients, optimiser update) per configuration, then a per-kernel profile of one step grouped by
 * what the time goes to.
 *
 *   npm run bench:step -- --backend=wasm|cpu [--cases=tiny24,r18x025-28,r18-32] [--runs=3] [--profile=true]
 *
 * Cases: `tiny24` is the `simclr demo` network (one block per group, 8 wide, 24×24, 128 images);
 * `r18x025-28` the issue's ResNet-18 ×0.25 on 28×28 (128 images, gray tiled to RGB); `r18-32` ResNet-18
 * with the CIFAR stem on 32×32, 64 images (as PyTorch's figure) in GradCache chunks of 16 (the whole batch exceeds
 * wasm's 4 GiB heap).
 */
import * as tf from "@tensorflow/tfjs-core"
import { twoViews } from "@simclr/augment"
import { buildSimclrModel, lars, selectBackend, simclrStep, trainableWeights } from "simclr"
import { Effect } from "effect"
import { categoryOf, parseFlag, peakRssMb, time } from "./harness.ts"

const backend = parseFlag("backend", "wasm") as "onednn" | "wasm" | "cpu"
const runs = Number(parseFlag("runs", "3"))
const profile = parseFlag("profile", "true") === "true"
const cases = parseFlag("cases", "tiny24,r18x025-28").split(",")
const threads = parseFlag("threads", "")

interface Case {
  readonly label: string
  readonly size: number
  readonly batch: number
  readonly encoder: Parameters<typeof buildSimclrModel>[0]["encoder"]
  readonly head: Parameters<typeof buildSimclrModel>[0]["head"]
  /** Images per encoder pass (GradCache), when the whole batch does not fit. */
  readonly chunkSize?: number
}

const CASES: Record<string, Case> = {
  tiny24: { label: "demo ResNet (1 block/group, 8 wide)", size: 24, batch: 128, encoder: { depth: 18, stem: "cifar", baseWidth: 8, blocksPerGroup: [1, 1, 1, 1], seed: 1 }, head: { numLayers: 2, outputDim: 64, seed: 2 } },
  "r18x025-28": { label: "ResNet-18 ×0.25, CIFAR stem", size: 28, batch: 128, encoder: { depth: 18, stem: "cifar", baseWidth: 16, seed: 1 }, head: { numLayers: 2, outputDim: 128, seed: 2 } },
  "r18-32": { label: "ResNet-18, CIFAR stem, GradCache chunks of 16", size: 32, batch: 64, chunkSize: 16, encoder: { depth: 18, stem: "cifar", seed: 1 }, head: { numLayers: 2, outputDim: 128, seed: 2 } }
}

const selected = await Effect.runPromise(selectBackend(backend, threads === "" ? {} : { wasmThreads: Number(threads) }))
tf.env().set("PROD", true)
console.log(`SimCLR step, backend=${tf.getBackend()}${selected.threads === undefined ? "" : ` (${selected.threads} threads)`}, node ${process.version}`)
console.log("case\timages × size\tms/step (median)\tmin–max ms\truns\timages/s\tpeak RSS MB")
for (const key of cases) {
  const c = CASES[key]
  if (c === undefined) throw new Error(`--cases: unknown case ${key}; known: ${Object.keys(CASES).join(", ")}`)
  const { model } = buildSimclrModel({ imageSize: c.size, encoder: c.encoder, head: c.head })
  const optimizer = lars({ weightDecay: 1e-4 })
  let state = optimizer.init(trainableWeights(model))
  const images = tf.randomUniform([c.batch, c.size, c.size, 3], 0, 1, "float32", 3)
  let seed = 0
  const step = () => {
    const views = twoViews(images, { size: [c.size, c.size], crop: { sampler: "tf", method: "bilinear" }, flip: 0.5, color: { strength: 0.5 }, blur: false }, seed++)
    state = simclrStep(model, views, state, { temperature: 0.5, optimizer, learningRate: 0.1, ...(c.chunkSize === undefined ? {} : { chunkSize: c.chunkSize }) }).state
    tf.dispose(views)
  }
  try {
    const t = time(step, runs, 1)
    console.log(`${c.label}\t${c.batch} × ${c.size}²\t${t.medianMs.toFixed(0)}\t${t.minMs.toFixed(0)}–${t.maxMs.toFixed(0)}\t${t.runs}\t${((1000 * c.batch) / t.medianMs).toFixed(1)}\t${peakRssMb().toFixed(0)}`)
    if (profile) {
      const info = await tf.profile(step)
      const byCategory = new Map<string, { ms: number; calls: number }>()
      for (const k of info.kernels) {
        const category = categoryOf(k.name)
        if (category === undefined) continue
        const entry = byCategory.get(category) ?? { ms: 0, calls: 0 }
        entry.ms += k.kernelTimeMs as number
        entry.calls++
        byCategory.set(category, entry)
      }
      const total = [...byCategory.values()].reduce((a, b) => a + b.ms, 0)
      console.log(`  profile of one step (kernel time ${total.toFixed(0)} ms; augmentation kernels included, JavaScript overhead not):`)
      for (const [name, { ms, calls }] of [...byCategory].toSorted((a, b) => b[1].ms - a[1].ms)) {
        console.log(`    ${name.padEnd(26)} ${ms.toFixed(0).padStart(6)} ms  ${((100 * ms) / total).toFixed(1).padStart(5)} %  ${String(calls).padStart(5)} kernels`)
      }
    }
  } catch (error) {
    console.log(`${c.label}\t${c.batch} × ${c.size}²\tfailed: ${(error as Error).message.split("\n")[0]}`)
  }
  tf.dispose(images)
  model.dispose()
}
