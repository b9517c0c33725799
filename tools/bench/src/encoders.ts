/**
 * Encoder forward (inference) and forward + backward (training-mode BN, gradients of every weight) time
 * per batch: ResNet-18 with the CIFAR stem on 64 × 32×32, and ResNet-50 on 8 × 224×224.
 *
 *   npm run bench:encoders -- --backend=cpu|wasm [--cases=r18,r50] [--modes=forward,train]
 *                             [--train-batch=N] [--batch=N] [--base-width=N] [--runs=3] [--force]
 *
 * `--train-batch` shrinks the batch of the forward + backward measurement (the cpu backend needs hours
 * for the full one) and `--batch` that of the forward one; the line then says so and gives ms per
 * image. `--base-width` (default 64) narrows every layer for a quick smoke run; the label says so.
 *
 * Before a step is timed, the kernels it needs are listed: a tiny replica of the model (same depth,
 * stem and blocks, base width 4, one block per group) runs the step once on the cpu backend, which has
 * every kernel, under `tf.profile`; `tf.getKernel(name, backend)` then says which of those the
 * measured backend lacks. A step with missing kernels is not run (wasm would otherwise fail on the
 * first one or abort its module for every later measurement); its line names them. `--force` runs it
 * anyway. A step that fails prints its error, and the kernels the error names or the ones missing.
 */
import * as tf from "@tensorflow/tfjs-core"
// Registers every op's gradient (tfjs-core alone has none) so the backward pass can run; also the cpu
// backend, on which the kernels a step needs are recorded.
import "@tensorflow/tfjs"
import { resnet, type ResNetConfig } from "@simclr/encoders"
import type * as tfl from "@tensorflow/tfjs-layers"
import { type BenchBackend, BENCH_BACKENDS, parseFlag, peakRssMb, setupBackend, time } from "./harness.ts"

const backend = parseFlag("backend", "cpu") as BenchBackend
if (!BENCH_BACKENDS.includes(backend)) throw new Error(`--backend must be one of ${BENCH_BACKENDS.join(", ")}; got ${backend}`)
const cases = parseFlag("cases", "r18,r50").split(",")
const modes = parseFlag("modes", "forward,train").split(",")
const runs = Number(parseFlag("runs", "3"))
const trainBatchFlag = parseFlag("train-batch", "")
const batchFlag = parseFlag("batch", "")
const force = process.argv.includes("--force")
const baseWidth = Number(parseFlag("base-width", "64"))
if (!(Number.isInteger(baseWidth) && baseWidth >= 1)) throw new Error(`--base-width must be a positive integer; got ${parseFlag("base-width", "")}`)

const CASES = {
  r18: { label: "ResNet-18 CIFAR stem", config: { depth: 18, stem: "cifar" } as const, batch: 64, size: 32 },
  r50: { label: "ResNet-50", config: { depth: 50 } as const, batch: 8, size: 224 }
} as const

type Mode = "forward" | "train"

/** One step: inference, or training-mode forward + the gradients of every trainable variable. */
const step = (model: tfl.LayersModel, x: tf.Tensor, mode: Mode): void => {
  if (mode === "forward") {
    tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync())
    return
  }
  tf.tidy(() => {
    // Without a variable list: every trainable variable, i.e. this model's weights.
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar)
    value.dataSync()
    Object.values(grads).forEach((g) => g.dataSync())
  })
}

/** The kernels one step of a tiny replica of `config` runs, recorded on the cpu backend (which has them all). */
const kernelsOf = async (config: ResNetConfig, size: number, mode: Mode): Promise<Array<string>> => {
  const measured = tf.getBackend()
  await tf.setBackend("cpu")
  try {
    const replica = resnet({ ...config, baseWidth: 4, blocksPerGroup: [1, 1, 1, 1] })
    const x = tf.randomUniform([2, Math.min(size, 32), Math.min(size, 32), 3], 0, 1, "float32", 1)
    const info = await tf.profile(() => step(replica, x, mode))
    x.dispose()
    replica.dispose()
    // Op scopes (custom-gradient wrappers) are profiled too: keep what cpu registers as a kernel.
    return info.kernelNames.filter((name) => tf.getKernel(name, "cpu") !== undefined).toSorted()
  } finally {
    await tf.setBackend(measured)
  }
}

/** Kernels an error message says are missing ("Cannot find registered kernel 'X' for backend 'y'", …). */
const kernelsNamedIn = (message: string): Array<string> =>
  [...message.matchAll(/kernel '(\w+)'[^']*backend '(\w+)'/gi)].map((m) => `${m[1]} (${m[2]})`)

await setupBackend(backend)
console.log(`encoders, backend=${tf.getBackend()}, node ${process.version}${baseWidth === 64 ? "" : `, base width ${baseWidth} (not the real model)`}`)
console.log("model\tmode\tbatch\tms/batch (median)\tmin–max ms\truns\tms/image\tpeak RSS MB")
for (const key of cases) {
  const c = CASES[key as keyof typeof CASES]
  if (c === undefined) throw new Error(`--cases: unknown case ${key}; known: ${Object.keys(CASES).join(", ")}`)
  const config: ResNetConfig = { ...c.config, baseWidth }
  const label = baseWidth === 64 ? c.label : `${c.label} (base width ${baseWidth})`
  let model: tfl.LayersModel | undefined
  for (const mode of modes) {
    if (mode !== "forward" && mode !== "train") throw new Error(`--modes: unknown mode ${mode}; known: forward, train`)
    const flag = mode === "train" ? trainBatchFlag : batchFlag
    const batch = flag !== "" ? Number(flag) : c.batch
    const shape = `${batch}${batch !== c.batch ? ` (of ${c.batch})` : ""} × ${c.size}²`
    const needed = await kernelsOf(config, c.size, mode)
    const missing = needed.filter((name) => tf.getKernel(name, backend) === undefined)
    if (missing.length > 0 && !force) {
      console.log(`${label}\t${mode}\t${shape}\tnot run: ${backend} lacks ${missing.length} of the ${needed.length} kernels this step runs: ${missing.join(", ")}`)
      continue
    }
    model ??= resnet(config)
    const x = tf.randomUniform([batch, c.size, c.size, 3], 0, 1, "float32", 1)
    const slow = backend === "cpu" && (mode === "train" || key === "r18") && baseWidth === 64
    try {
      const t = time(() => step(model!, x, mode), slow ? 1 : runs, slow ? 0 : 1)
      console.log(
        `${label}\t${mode}\t${shape}\t${t.medianMs.toFixed(0)}\t${t.minMs.toFixed(0)}–${t.maxMs.toFixed(0)}\t${t.runs}\t${(t.medianMs / batch).toFixed(1)}\t${peakRssMb().toFixed(0)}`
      )
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      const named = kernelsNamedIn(message)
      const lines = message.split("\n").filter((l) => l.trim() !== "")
      const kernels =
        named.length > 0 ? `the error names missing kernels: ${named.join(", ")}`
        : missing.length > 0 ? `${backend} lacks ${missing.length} of the ${needed.length} kernels this step runs: ${missing.join(", ")}`
        : `none of the ${needed.length} kernels this step runs is missing for ${backend} (${needed.join(", ")})`
      console.log(`${label}\t${mode}\t${shape}\tfailed: ${lines.slice(0, 3).join(" / ")}${lines.length > 3 ? " / …" : ""}; ${kernels}`)
    }
    x.dispose()
  }
  model?.dispose()
}
