/**
 * Encoder forward (inference) and forward + backward (training-mode BN, gradients of every weight) time
 * per batch: ResNet-18 with the CIFAR stem on 64 × 32×32, and ResNet-50 on 8 × 224×224.
 *
 *   npm run bench:encoders -- --backend=cpu|wasm [--cases=r18,r50] [--modes=forward,train]
 *                             [--train-batch=N] [--runs=3]
 *
 * `--train-batch` shrinks the batch of the forward + backward measurement (the cpu backend needs hours
 * for the full one); the line then says so and gives ms per image. A backend that lacks a kernel prints
 * the error (for example wasm's missing Conv2DBackpropFilter) instead of a time.
 */
import * as tf from "@tensorflow/tfjs-core"
// Registers every op's gradient (tfjs-core alone has none) so the backward pass can run.
import "@tensorflow/tfjs"
import { resnet } from "@simclr/encoders"
import { type BenchBackend, BENCH_BACKENDS, parseFlag, peakRssMb, setupBackend, time } from "./harness.ts"

const backend = parseFlag("backend", "cpu") as BenchBackend
if (!BENCH_BACKENDS.includes(backend)) throw new Error(`--backend must be one of ${BENCH_BACKENDS.join(", ")}; got ${backend}`)
const cases = parseFlag("cases", "r18,r50").split(",")
const modes = parseFlag("modes", "forward,train").split(",")
const runs = Number(parseFlag("runs", "3"))
const trainBatchFlag = parseFlag("train-batch", "")

const CASES = {
  r18: { label: "ResNet-18 CIFAR stem", config: { depth: 18, stem: "cifar" } as const, batch: 64, size: 32 },
  r50: { label: "ResNet-50", config: { depth: 50 } as const, batch: 8, size: 224 }
} as const

await setupBackend(backend)
console.log(`encoders, backend=${tf.getBackend()}, node ${process.version}`)
console.log("model\tmode\tbatch\tms/batch (median)\tmin–max ms\truns\tms/image\tpeak RSS MB")
for (const key of cases) {
  const c = CASES[key as keyof typeof CASES]
  if (c === undefined) throw new Error(`--cases: unknown case ${key}; known: ${Object.keys(CASES).join(", ")}`)
  const model = resnet(c.config)
  for (const mode of modes) {
    const batch = mode === "train" && trainBatchFlag !== "" ? Number(trainBatchFlag) : c.batch
    const x = tf.randomUniform([batch, c.size, c.size, 3], 0, 1, "float32", 1)
    const step =
      mode === "forward"
        ? () => tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync())
        : () =>
            tf.tidy(() => {
              // Without a variable list: every trainable variable, i.e. this model's weights.
              const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar)
              value.dataSync()
              Object.values(grads).forEach((g) => g.dataSync())
            })
    const slow = backend === "cpu" && (mode === "train" || key === "r18")
    try {
      const t = time(step, slow ? 1 : runs, slow ? 0 : 1)
      console.log(
        `${c.label}\t${mode}\t${batch}${batch !== c.batch ? ` (of ${c.batch})` : ""} × ${c.size}²\t${t.medianMs.toFixed(0)}\t${t.minMs.toFixed(0)}–${t.maxMs.toFixed(0)}\t${t.runs}\t${(t.medianMs / batch).toFixed(1)}\t${peakRssMb().toFixed(0)}`
      )
    } catch (error) {
      console.log(`${c.label}\t${mode}\t${batch} × ${c.size}²\tfailed: ${(error as Error).message.split("\n")[0]}`)
    }
    x.dispose()
  }
  model.dispose()
}
