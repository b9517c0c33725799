/**
 * The backward pass that frees as it goes: the same value and gradients as tf.variableGrads, bit for
 * bit (same kernels, same order), fewer live bytes at the backward pass's peak, nothing leaked.
 */
import { resnet } from "@simclr/encoders"
// Compared on the cpu backend whichever backend the suite runs on (tfjs-core's own gradients are the reference).
import "@tensorflow/tfjs-backend-cpu"
import * as tf from "@tensorflow/tfjs-core"
import { describe, expect, it } from "vitest"
import { variableGradsFreeing } from "../src/internal/variableGradsFreeing.ts"

/** Runs a gradient computation and samples live tensor bytes before every kernel. */
const peakDuring = (run: () => { value: tf.Scalar; grads: tf.NamedTensorMap }) => {
  let peak = 0
  const sample = () => {
    peak = Math.max(peak, tf.memory().numBytes)
  }
  const engine = tf.engine()
  const original = engine.runKernel.bind(engine)
  engine.runKernel = ((...args: Parameters<typeof original>) => {
    sample()
    return original(...args)
  }) as typeof engine.runKernel
  try {
    return { ...run(), peak }
  } finally {
    engine.runKernel = original
  }
}

describe("variableGradsFreeing", () => {
  it("equals tf.variableGrads on a ResNet with batch norm, residual adds and a shared input, and peaks lower", async () => {
    await tf.setBackend("cpu")
    const model = resnet({ depth: 18, stem: "cifar", baseWidth: 4, blocksPerGroup: [1, 1, 1, 1], inputShape: [8, 8, 3], seed: 5 })
    const variables = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val)
    const x = tf.randomUniform([6, 8, 8, 3], 0, 1, "float32", 1)
    const r = tf.randomNormal([6, 32], 0, 1, "float32", 2)
    // h is used twice (a shared tensor whose gradient accumulates); batch-norm moving averages update in place.
    const loss = () => tf.tidy(() => {
      const h = model.apply(x, { training: true }) as tf.Tensor
      return tf.add(tf.sum(tf.mul(h, r)), tf.mul(tf.sum(tf.square(h)), 0.1)) as tf.Scalar
    })
    const movingBefore = model.getWeights().map((w) => w.dataSync().slice())
    const before = tf.memory().numTensors
    const stock = peakDuring(() => tf.variableGrads(loss, variables))
    // The same moving-average state for the second run.
    tf.tidy(() => model.setWeights(movingBefore.map((v, i) => tf.tensor(v, model.getWeights()[i]!.shape))))
    const freeing = peakDuring(() => variableGradsFreeing(loss, variables))
    expect(Array.from(freeing.value.dataSync())).toEqual(Array.from(stock.value.dataSync()))
    expect(Object.keys(freeing.grads).toSorted()).toEqual(Object.keys(stock.grads).toSorted())
    for (const [name, g] of Object.entries(stock.grads)) expect({ name, values: Array.from(freeing.grads[name]!.dataSync()) }).toEqual({ name, values: Array.from(g.dataSync()) })
    expect(freeing.peak).toBeLessThan(stock.peak)
    tf.dispose([stock.value, freeing.value, ...Object.values(stock.grads), ...Object.values(freeing.grads)])
    expect(tf.memory().numTensors).toBe(before)
    tf.dispose([x, r])
  })

  it("throws, naming the problem, when f does not return a scalar", () => {
    const v = tf.variable(tf.ones([3]))
    expect(() => variableGradsFreeing(() => tf.mul(v, 2) as unknown as tf.Scalar, [v])).toThrow(/f must return a scalar tensor, got rank 1/)
    v.dispose()
  })
})
