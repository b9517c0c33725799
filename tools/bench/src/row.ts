/**
 * One row of the benchmark suite (`suite.ts` runs each in its own process): prints one JSON line.
 *
 *   node dist/row.js --row=step-r18-32|step-r18x025-28|step-v2-r18x025-28|step-demo|ntxent|augment|data|profile --backend=onednn|wasm|cpu [--threads=N] [--runs=N]
 */
import * as tf from "@tensorflow/tfjs-core"
import { augmentPresets, simclrView, twoViews } from "@simclr/augment"
import { resnet } from "@simclr/encoders"
import { projectionHead, simclrModel } from "@simclr/heads"
import { ntXent } from "@simclr/losses"
import { availableParallelism } from "node:os"
import * as tfl from "@tensorflow/tfjs-layers"
import { createMemoryQueue, enqueue, momentumEncoder } from "@simclr/memory-queue"
import { buildSimclrModel, disposeState, makeOptimizer, pretrainPresets, selectBackend, sgd, simclrStep, simclrV2Step, trainableWeights, type Optimizer } from "simclr"
import { Effect } from "effect"
import { categoryOf, parseFlag, peakRssMb, time } from "./harness.ts"
import { jpegFolder, runOne } from "./jpegs.ts"
import type { RowResult } from "./suite.ts"

const row = parseFlag("row", "")
const backend = parseFlag("backend", "wasm") as "onednn" | "wasm" | "cpu"
const threads = parseFlag("threads", "")
const runsFlag = parseFlag("runs", "")

interface StepCase {
  readonly label: string
  readonly size: number
  readonly channels: number
  readonly batch: number
  readonly build: () => tfl.LayersModel
  readonly optimizer: () => Optimizer
  readonly learningRate: number
  readonly temperature: number
  /** Images per encoder pass on wasm (GradCache), where the whole batch exceeds its 4 GiB heap. */
  readonly wasmChunk?: number
  readonly runs: number
}

/** ResNet-18 (torchvision layout) + the official 2-layer head, as PyTorch was measured. */
const resnet18 = (size: number, channels: number, baseWidth: number, hiddenDim: number) => () => {
  const encoder = resnet({ depth: 18, stem: "cifar", baseWidth, inputShape: [size, size, channels], seed: 1 })
  const head = projectionHead({ inputDim: encoder.outputs[0]!.shape[1] as number, numLayers: 2, hiddenDim, outputDim: 128, seed: 2 })
  return simclrModel(encoder, head)
}

const STEP_CASES: Record<string, StepCase> = {
  "step-r18-32": {
    label: "SimCLR step, ResNet-18 CIFAR stem, head 512-512-128, SGD",
    size: 32, channels: 3, batch: 64, build: resnet18(32, 3, 64, 512),
    optimizer: () => sgd({ momentum: 0.9 }), learningRate: 0.1, temperature: 0.5, wasmChunk: 16, runs: 2
  },
  "step-r18x025-28": {
    label: "SimCLR step, ResNet-18 ×0.25 CIFAR stem, head 128-128-128, SGD",
    size: 28, channels: 1, batch: 128, build: resnet18(28, 1, 16, 128),
    optimizer: () => sgd({ momentum: 0.9 }), learningRate: 0.1, temperature: 0.5, runs: 3
  },
  "step-demo": {
    label: "SimCLR step, `simclr demo` network (1 block/group, 8 wide), Adam",
    size: 24, channels: 3, batch: 128, build: () => buildSimclrModel(pretrainPresets.demo()).model,
    optimizer: () => makeOptimizer(pretrainPresets.demo().optimizer), learningRate: 0.004, temperature: 0.2, runs: 5
  }
}

const runsOr = (fallback: number) => (runsFlag === "" ? fallback : Number(runsFlag))

/** Fixed views (augmentation has its own row): uniform noise, seeded. */
const fixedViews = (c: StepCase): [tf.Tensor4D, tf.Tensor4D] => [
  tf.randomUniform([c.batch, c.size, c.size, c.channels], 0, 1, "float32", 3) as tf.Tensor4D,
  tf.randomUniform([c.batch, c.size, c.size, c.channels], 0, 1, "float32", 4) as tf.Tensor4D
]

/** A case's model, optimiser and fixed views, and one training step on them (`chunkSize` when given). */
const stepSetup = (c: StepCase, chunkSize: number | undefined) => {
  const model = c.build()
  const optimizer = c.optimizer()
  const variables = trainableWeights(model)
  const views = fixedViews(c)
  const training = { model, optimizer, variables, views, state: optimizer.init(variables) }
  const step = () => {
    training.state = simclrStep(model, views, training.state, { temperature: c.temperature, optimizer, learningRate: c.learningRate, ...(chunkSize === undefined ? {} : { chunkSize }) }).state
  }
  return { ...training, step, current: () => training.state }
}

/** NT-Xent's value and both gradients, computed and freed (the loss as a training step runs it). */
const ntXentForwardBackward = (z1: tf.Tensor, z2: tf.Tensor, temperature: number) => {
  const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => ntXent(a as tf.Tensor2D, b as tf.Tensor2D, { temperature }))([z1, z2])
  grads.forEach((g) => g.dataSync())
  tf.dispose([value, ...grads])
}

/** The v2 queue of the v2 row: 4,096 keys of 128-d (the `fashion-mnist-v2` preset's), full from the start (the steady state). */
const V2_QUEUE = 4096

/**
 * SimCLR v2's step on the ResNet-18 ×0.25 case: the momentum network's forward pass over both views,
 * NT-Xent with in-batch and 4,096 queue negatives, the online update, the momentum update and the
 * enqueue (`simclrV2Step`), next to the v1 row on the same network.
 */
const v2StepRow = (threadCount: number | undefined): RowResult => {
  const c = STEP_CASES["step-r18x025-28"]!
  const model = c.build()
  const target = momentumEncoder(model)
  const optimizer = c.optimizer()
  const views = fixedViews(c)
  let state = optimizer.init(trainableWeights(model))
  const random = tf.tidy(() => {
    const k = tf.randomNormal([V2_QUEUE, 128], 0, 1, "float32", 11)
    return tf.div(k, tf.norm(k, "euclidean", 1, true)) as tf.Tensor2D
  })
  let queue = enqueue(createMemoryQueue({ size: V2_QUEUE, dim: 128 }), random)
  random.dispose()
  const t = time(() => {
    const r = simclrV2Step(model, target, queue, views, state, { temperature: c.temperature, optimizer, learningRate: c.learningRate, momentum: 0.99 })
    state = r.state
    queue = r.queue
  }, runsOr(backend === "cpu" ? 1 : c.runs), 1)
  return {
    row: "step-v2-r18x025-28", label: `SimCLR v2 step (momentum network + ${V2_QUEUE.toLocaleString("en")}-key queue), ResNet-18 ×0.25 CIFAR stem, head 128-128-128, SGD`, backend,
    ...(threadCount === undefined ? {} : { threads: threadCount }),
    batch: `${c.batch} × ${c.size}×${c.size}×${c.channels}`,
    msMedian: t.medianMs, msMin: t.minMs, msMax: t.maxMs, runs: t.runs,
    perSecond: (1000 * c.batch) / t.medianMs, unit: "img/s", peakRssMb: peakRssMb()
  }
}

const stepRow = (key: string, c: StepCase, threadCount: number | undefined): RowResult => {
  const chunk = backend === "wasm" ? c.wasmChunk : undefined
  const t = time(stepSetup(c, chunk).step, runsOr(backend === "cpu" ? 1 : c.runs), 1)
  return {
    row: key, label: c.label, backend, ...(threadCount === undefined ? {} : { threads: threadCount }),
    batch: `${c.batch} × ${c.size}×${c.size}×${c.channels}`,
    msMedian: t.medianMs, msMin: t.minMs, msMax: t.maxMs, runs: t.runs,
    perSecond: (1000 * c.batch) / t.medianMs, unit: "img/s", peakRssMb: peakRssMb(),
    ...(chunk === undefined ? {} : { note: `GradCache chunks of ${chunk} images (the 128 views at once exceed wasm's 4 GiB heap); batch-norm statistics per chunk` })
  }
}

const ntxentRow = (threadCount: number | undefined): RowResult => {
  const n = 1024
  const z1 = tf.randomNormal([n, 128], 0, 1, "float32", 1) as tf.Tensor2D
  const z2 = tf.randomNormal([n, 128], 0, 1, "float32", 2) as tf.Tensor2D
  const t = time(() => ntXentForwardBackward(z1, z2, 0.1), runsOr(5), 1)
  return {
    row: "ntxent", label: "NT-Xent forward + backward, D = 128", backend, ...(threadCount === undefined ? {} : { threads: threadCount }),
    batch: `N = ${n} (2N = ${2 * n} embeddings)`, msMedian: t.medianMs, msMin: t.minMs, msMax: t.maxMs, runs: t.runs,
    perSecond: (1000 * 2 * n) / t.medianMs, unit: "embeddings/s", peakRssMb: peakRssMb()
  }
}

const augmentRow = (threadCount: number | undefined): RowResult => {
  const images = tf.randomUniform([256, 32, 32, 3], 0, 1, "float32", 1)
  const config = { ...augmentPresets.official(32), validateRange: false }
  let seed = 0
  const t = time(() => {
    const view = simclrView(images, config, seed++)
    view.dataSync()
    view.dispose()
  }, runsOr(5), 1)
  return {
    row: "augment", label: "one SimCLR view (official preset: crop, flip, colour, grayscale, blur)", backend, ...(threadCount === undefined ? {} : { threads: threadCount }),
    batch: "256 × 32×32×3", msMedian: t.medianMs, msMin: t.minMs, msMax: t.maxMs, runs: t.runs,
    perSecond: (1000 * 256) / t.medianMs, unit: "img/s", peakRssMb: peakRssMb()
  }
}

const dataRow = async (): Promise<RowResult> => {
  const folder = await jpegFolder(2000)
  const concurrency = availableParallelism()
  const r = await runOne(folder, 32, concurrency, false)
  const rate = r.epochs[0]!.imagesPerSecond
  return {
    row: "data", label: `data stream: 2,000 JPEGs 500×375 → decode (sharp), resize, shuffle, batch (concurrency ${concurrency}, no cache)`, backend: "none",
    batch: "256 × 32×32×3", msMedian: (1000 * 256) / rate, msMin: (1000 * 256) / rate, msMax: (1000 * 256) / rate, runs: 1,
    perSecond: rate, unit: "img/s", peakRssMb: r.peakRssMb
  }
}

/** Sum of kernel times by part, from one `tf.profile` run. */
const profiled = async (f: () => void, part?: string) => {
  const info = await tf.profile(f)
  const parts = new Map<string, { ms: number; kernels: number }>()
  for (const k of info.kernels) {
    const category = categoryOf(k.name)
    if (category === undefined) continue
    const name = part ?? category
    const entry = parts.get(name) ?? { ms: 0, kernels: 0 }
    entry.ms += k.kernelTimeMs as number
    entry.kernels++
    parts.set(name, entry)
  }
  return parts
}

/** Where one step of the ResNet-18 ×0.25 case goes: network kernels by kind, loss, optimiser, overhead; plus data and augmentation. */
const profileRow = async (threadCount: number | undefined): Promise<RowResult> => {
  const c = STEP_CASES["step-r18x025-28"]!
  const { model, optimizer, variables, views, step, current } = stepSetup(c, undefined)
  const wall = time(step, runsOr(3), 1)
  // The network alone: forward and backward from a fixed embedding gradient (no loss).
  const x = tf.concat(views, 0)
  const dz = tf.randomNormal([2 * c.batch, 128], 0, 0.01, "float32", 5)
  const network = await profiled(() => {
    const { value, grads } = tf.variableGrads(() => {
      const outputs = model.apply(x, { training: true }) as Array<tf.Tensor>
      return tf.sum(tf.mul(outputs[outputs.length - 1]!, dz)) as tf.Scalar
    }, Object.values(variables))
    tf.dispose([value, ...Object.values(grads)])
  })
  const z = [tf.randomNormal([c.batch, 128], 0, 1, "float32", 6), tf.randomNormal([c.batch, 128], 0, 1, "float32", 7)]
  const loss = await profiled(() => ntXentForwardBackward(z[0]!, z[1]!, c.temperature), "NT-Xent loss (forward + backward)")
  const grads = Object.fromEntries(Object.entries(variables).map(([name, v]) => [name, tf.randomNormal(v.shape, 0, 0.01, "float32", 8)]))
  const update = await profiled(() => {
    const next = optimizer.update(variables, grads, current(), c.learningRate)
    for (const [name, v] of Object.entries(variables)) v.assign(next.weights[name]!)
    tf.dispose(Object.values(next.weights))
    disposeState(next.state)
  }, "optimiser update (SGD, momentum)")
  // Outside the step: two augmented views (3-channel: colour jitter needs RGB) and the JPEG stream.
  const rgb = tf.randomUniform([c.batch, c.size, c.size, 3], 0, 1, "float32", 9)
  const augmentation = await profiled(() => {
    const v = twoViews(rgb, { size: [c.size, c.size], crop: { sampler: "tf", method: "bilinear" }, flip: 0.5, color: { strength: 0.5 }, blur: false }, 1)
    tf.dispose([...v])
  }, "augmentation: two views (outside the step)")
  const jpeg = await runOne(await jpegFolder(2000), c.size, availableParallelism(), false)
  const parts = [...network, ...loss, ...update].map(([part, p]) => ({ part, ms: p.ms, kernels: p.kernels })).toSorted((a, b) => b.ms - a.ms)
  const kernelMs = parts.reduce((a, p) => a + p.ms, 0)
  const overhead = Math.max(0, wall.medianMs - kernelMs)
  const outside = [...augmentation].map(([part, p]) => ({ part, ms: p.ms, kernels: p.kernels }))
  return {
    row: "profile", label: c.label, backend, ...(threadCount === undefined ? {} : { threads: threadCount }),
    batch: `${c.batch} × ${c.size}×${c.size}×${c.channels}`, msMedian: wall.medianMs, msMin: wall.minMs, msMax: wall.maxMs, runs: wall.runs,
    perSecond: (1000 * c.batch) / wall.medianMs, unit: "img/s", peakRssMb: peakRssMb(), stepMs: wall.medianMs,
    profile: [
      ...parts,
      { part: "JavaScript, tfjs bookkeeping, gaps between kernels", ms: overhead, kernels: 0 },
      ...outside,
      { part: `data: one batch from 2,000 JPEGs (sharp, concurrency ${availableParallelism()}; outside the step, overlapped by prefetch)`, ms: (1000 * c.batch) / jpeg.epochs[0]!.imagesPerSecond, kernels: 0 }
    ],
    note: `kernel times from tf.profile (each part profiled on its own; the step's wall time is the median of ${wall.runs} runs).`
  }
}

if (row === "data") {
  console.log(JSON.stringify(await dataRow()))
} else {
  const selected = await Effect.runPromise(selectBackend(backend, threads === "" ? {} : { wasmThreads: Number(threads) }))
  tf.env().set("PROD", true)
  const stepCase = STEP_CASES[row]
  const result = stepCase !== undefined
    ? stepRow(row, stepCase, selected.threads)
    : row === "step-v2-r18x025-28"
    ? v2StepRow(selected.threads)
    : row === "ntxent"
    ? ntxentRow(selected.threads)
    : row === "augment"
    ? augmentRow(selected.threads)
    : row === "profile"
    ? await profileRow(selected.threads)
    : undefined
  if (result === undefined) throw new Error(`--row: unknown row "${row}"`)
  console.log(JSON.stringify(result))
}
