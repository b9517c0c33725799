/**
 * Training on @simclr/backend-onednn against the cpu backend: the batch-norm layer's fused training
 * path, and 20 whole pre-training steps (augmentation, ResNet, head, NT-Xent, LARS). Skipped, with the
 * reason, where the addon is not built; CI installs oneDNN and sets SIMCLR_REQUIRE_ONEDNN=1, so there
 * it must run.
 */
import { assert, describe, it } from "@effect/vitest"
import { onednnStatus } from "@simclr/backend-onednn"
import { BatchNormalization, hasFusedBatchNorm } from "@simclr/encoders"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { tinyConfig, tinySource } from "./tinyConfig.ts"
import { type PretrainConfig, pretrain, selectBackend, type StepMetrics } from "../src/index.ts"

const status = onednnStatus()
const run = status.available || process.env["SIMCLR_REQUIRE_ONEDNN"] === "1"
if (!run) console.warn(`skipping the oneDNN training tests: ${status.available ? "" : status.reason}`)

const root = mkdtempSync(join(tmpdir(), "simclr-onednn-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const config: PretrainConfig = {
  ...tinyConfig,
  batchSize: 8,
  epochs: 10,
  optimizer: { ...tinyConfig.optimizer, learningRate: 0.5 },
  checkpointEvery: 100,
  keepCheckpoints: 1,
  maxSteps: 20
}
const source = () => tinySource(32)
const losses = (out: string): Array<number> =>
  readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as StepMetrics).loss)

describe.skipIf(!run)("training on @simclr/backend-onednn", () => {
  it.effect("auto takes it, and says which oneDNN and how many threads", () =>
    Effect.gen(function*() {
      const selected = yield* selectBackend("auto")
      assert.strictEqual(selected.name, "onednn")
      assert.strictEqual(tf.getBackend(), "onednn")
      assert.match(selected.reason, /^auto: took @simclr\/backend-onednn; skipped @tensorflow\/tfjs-node-gpu \(not installed\); @tensorflow\/tfjs-node \(not installed\); oneDNN \d+\.\d+\.\d+, \d+ threads? \(OpenMP\), (SSE4\.1|AVX|AVX2|AVX2-VNNI|AVX-512[A-Z0-9 ]*|native)$/)
      assert.isAtLeast(selected.threads ?? 0, 1)
      yield* selectBackend("cpu")
    }))

  it.effect("the batch-norm layer's fused training path equals tfjs-layers' on cpu: output, gradients, moving averages (1e-4)", () =>
    Effect.gen(function*() {
      const shape = [16, 5, 5, 6]
      const x = Float32Array.from({ length: 16 * 5 * 5 * 6 }, (_, i) => Math.sin(i * 0.37) * 2 + 0.5)
      const r = Float32Array.from({ length: x.length }, (_, i) => Math.cos(i * 0.11))
      const trainOnce = () => {
        const layer = new BatchNormalization({ momentum: 0.9, epsilon: 1e-5, gammaInitializer: "ones", name: "bn" })
        layer.build(shape)
        tf.tidy(() => layer.setWeights([tf.linspace(0.5, 1.5, 6), tf.linspace(-0.2, 0.3, 6), tf.zeros([6]), tf.ones([6])]))
        const input = tf.tensor4d(x, shape as [number, number, number, number])
        const weight = tf.tensor4d(r, shape as [number, number, number, number])
        const { value, grads } = tf.variableGrads(() => tf.tidy(() => tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, weight))) as tf.Scalar, layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val))
        const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layer.apply(a, { training: true }) as tf.Tensor, weight)))(input)
        const out = [value, ...Object.values(grads), dx, ...layer.getWeights().slice(2)].map((t) => Array.from(t.dataSync()))
        tf.dispose([value, ...Object.values(grads), dx, input, weight])
        for (const w of layer.weights) w.dispose()
        return out
      }
      yield* selectBackend("cpu")
      assert.isFalse(hasFusedBatchNorm(), "cpu runs tfjs-layers' own computation")
      const before = tf.memory().numTensors
      const cpu = trainOnce()
      yield* selectBackend("onednn")
      assert.isTrue(hasFusedBatchNorm(), "onednn has the fused kernels")
      const onednn = trainOnce()
      yield* selectBackend("cpu")
      assert.strictEqual(tf.memory().numTensors, before, "no tensors leaked")
      assert.strictEqual(onednn.length, cpu.length)
      cpu.forEach((ref, k) => {
        const scale = Math.max(...ref.map(Math.abs))
        ref.forEach((v, i) => assert.approximately(onednn[k]![i]!, v, 1e-4 * Math.abs(v) + 1e-4 * scale, `output ${k} [${i}]`))
      })
    }))

  it.effect("20 SimCLR pre-training steps give the cpu backend's loss trajectory", () =>
    Effect.gen(function*() {
      yield* selectBackend("cpu")
      yield* pretrain(source(), config, { out: join(root, "cpu") })
      yield* selectBackend("onednn")
      yield* pretrain(source(), config, { out: join(root, "onednn") })
      yield* selectBackend("cpu")
      const onCpu = losses(join(root, "cpu"))
      const onOnednn = losses(join(root, "onednn"))
      assert.strictEqual(onCpu.length, 20)
      assert.strictEqual(onOnednn.length, 20)
      // Same seeds, batches and views; the kernels differ in summation order only, which 20 LARS
      // steps carry forward.
      const worst = Math.max(...onOnednn.map((l, i) => Math.abs(l - onCpu[i]!) / Math.abs(onCpu[i]!)))
      console.log(`20 steps: losses ${onCpu[0]!.toFixed(4)} → ${onCpu[19]!.toFixed(4)}; worst relative difference onednn vs cpu ${worst.toExponential(2)}`)
      onOnednn.forEach((l, i) => assert.approximately(l, onCpu[i]!, 1e-4 * Math.abs(onCpu[i]!), `step ${i + 1}`))
    }), 300_000)
})
