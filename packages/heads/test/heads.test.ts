import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { randomNormal, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { headPresets, InvalidArgumentError, projectionHead, simclrModel, supervisedHead } from "../src/index.ts"

const count = (m: tfl.LayersModel) => m.trainableWeights.reduce((s, w) => s + (w.shape as Array<number>).reduce((a, b) => a * b, 1), 0)

const firstDenseWeights = (seed: number): Array<number> => {
  const head = projectionHead({ inputDim: 64, numLayers: 2, seed })
  const w = Array.from(head.getLayer("projection_head.0.dense").getWeights()[0]!.dataSync())
  head.dispose()
  return w
}

const supervisedKernel = (): Array<number> => {
  const m = supervisedHead(3, { inputDim: 4, seed: 0 })
  const w = Array.from(m.getWeights()[0]!.dataSync())
  m.dispose()
  return w
}

describe("projectionHead", () => {
  useLeakCheck()

  it("follows the official structure: dense without bias → BN, ReLU between, last BN without β", () => {
    const head = projectionHead({ inputDim: 16, numLayers: 3, outputDim: 8 })
    expect(head.outputs.map((o) => o.shape)).toEqual([[null, 16], [null, 16], [null, 16], [null, 8]])
    const dense = head.layers.filter((l) => l.getClassName() === "Dense")
    expect(dense.map((l) => l.getConfig()["useBias"])).toEqual([false, false, false])
    const bn = head.layers.filter((l) => l.getClassName() === "BatchNormalization")
    // The last BN's β exists but is frozen at 0 (tfjs-layers cannot train a BN built with center: false).
    expect(bn.map((l) => l.trainableWeights.map((w) => w.originalName.split("/").at(-1)))).toEqual([["gamma", "beta"], ["gamma", "beta"], ["gamma"]])
    expect(Array.from(bn[2]!.getWeights()[1]!.dataSync())).toEqual(Array.from({ length: 8 }, () => 0))
    expect(bn.every((l) => l.getConfig()["momentum"] === 0.9 && l.getConfig()["epsilon"] === 1e-5)).toBe(true)
    // 3 dense (16·16, 16·16, 16·8) + BN γβ (16, 16) ×2 + γ (8).
    expect(count(head)).toBe(16 * 16 + 16 * 16 + 16 * 8 + 2 * 32 + 8)
    head.dispose()
  })

  it("runs in training mode (batch statistics), with gradients for every trainable weight", () => {
    const head = projectionHead({ inputDim: 4, numLayers: 2, hiddenDim: 3, outputDim: 2, seed: 4 })
    const h = randomNormal([6, 4], 2) as tf.Tensor2D
    const weights = head.trainableWeights.map((w) => w.read() as tf.Variable)
    const { value, grads } = tf.variableGrads(() => {
      const outputs = head.apply(h, { training: true }) as Array<tf.Tensor>
      // In training mode the last BN standardises each column over the batch: mean 0 before γ.
      return tf.sum(tf.square(outputs.at(-1)!)) as tf.Scalar
    }, weights)
    expect(Object.keys(grads).length).toBe(weights.length)
    const z = tf.tidy(() => tf.mean((head.apply(h, { training: true }) as Array<tf.Tensor>).at(-1)!, 0))
    for (const m of z.dataSync()) expect(Math.abs(m)).toBeLessThan(1e-5)
    tf.dispose([value, h, z, ...Object.values(grads)])
    head.dispose()
  })

  it("computes, in inference, relu(BN(hW₁)) → … → γ·BN(·W₃) exactly as written out by hand", () => {
    const head = projectionHead({ inputDim: 4, numLayers: 2, hiddenDim: 3, outputDim: 2, seed: 3 })
    const h = randomNormal([5, 4], 1) as tf.Tensor2D
    const outputs = head.predict(h) as Array<tf.Tensor>
    const [, l1, z] = outputs
    // Fresh BN: moving mean 0, variance 1, γ 1, β 0 → BN(x) = x / √(1 + 1e-5).
    const manual = tf.tidy(() => {
      const [w1] = head.getLayer("projection_head.0.dense").getWeights()
      const [w2] = head.getLayer("projection_head.1.dense").getWeights()
      const s = 1 / Math.sqrt(1 + 1e-5)
      const a = tf.relu(tf.mul(tf.matMul(h, w1!), s))
      return [a, tf.mul(tf.matMul(a, w2!), s)]
    })
    expect(l1!).toBeAllclose(manual[0]!, { rtol: 1e-5, atol: 1e-7 })
    expect(z!).toBeAllclose(manual[1]!, { rtol: 1e-5, atol: 1e-7 })
    tf.dispose([h, outputs, manual])
    head.dispose()
  })

  it("initialises dense layers N(0, 0.01²), seeded", () => {
    const a = firstDenseWeights(1)
    expect(firstDenseWeights(1)).toEqual(a)
    // Seed 0 (the default) must be a seed too: tfjs reads an initializer seed of 0 as "unseeded".
    expect(firstDenseWeights(0)).toEqual(firstDenseWeights(0))
    expect(supervisedKernel()).toEqual(supervisedKernel())
    expect(firstDenseWeights(2)).not.toEqual(a)
    const std = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length)
    expect(Math.abs(std - 0.01)).toBeLessThan(0.001)
  })

  it("has linear, none and preset modes", () => {
    const linear = projectionHead({ inputDim: 8, mode: "linear", outputDim: 4 })
    expect(linear.outputs.map((o) => o.shape)).toEqual([[null, 8], [null, 4]])
    const none = projectionHead({ inputDim: 8, mode: "none" })
    expect(none.outputs.map((o) => o.shape)).toEqual([[null, 8], [null, 8]])
    const v1 = projectionHead(headPresets.v1(32))
    const v2 = projectionHead(headPresets.v2(32))
    const lightly = projectionHead(headPresets.lightly(32))
    expect([v1.outputs.length, v2.outputs.length]).toEqual([3, 4])
    expect(lightly.layers.filter((l) => l.getClassName() === "BatchNormalization").map((l) => l.trainableWeights.length)).toEqual([2, 2])
    for (const m of [linear, none, v1, v2, lightly]) m.dispose()
  })

  it("names bad options", () => {
    expect(() => projectionHead({} as never)).toThrow(/^config\.inputDim: is required/)
    expect(() => projectionHead({ inputDim: 8, mode: "mlp" as never })).toThrow(/^config\.mode: must be one of "none", "linear", "nonlinear"; got "mlp"/)
    expect(() => projectionHead({ inputDim: 8, numLayers: 0 })).toThrow(InvalidArgumentError)
  })
})

describe("supervisedHead and simclrModel", () => {
  useLeakCheck()

  it("supervisedHead: dense with bias, N(0, 0.01²) or zeros", () => {
    const head = supervisedHead(10, { inputDim: 32, seed: 1 })
    const zero = supervisedHead(10, { inputDim: 32, zeroInit: true })
    expect(count(head)).toBe(32 * 10 + 10)
    expect(Array.from(zero.getWeights()[0]!.dataSync()).every((v) => v === 0)).toBe(true)
    expect(Array.from(head.getWeights()[0]!.dataSync()).some((v) => v !== 0)).toBe(true)
    expect(() => supervisedHead(0, { inputDim: 4 })).toThrow(/^numClasses: must be an integer in \[1, 16777216\], got 0/)
    head.dispose()
    zero.dispose()
  })

  it("simclrModel returns h, the selected head layer and z, sharing the parts' weights", () => {
    const input = tfl.input({ shape: [6] })
    const encoder = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 8, name: "enc" }).apply(input) as tfl.SymbolicTensor })
    const head = projectionHead({ inputDim: 8, numLayers: 3, outputDim: 4 })
    const model = simclrModel(encoder, head, { ftProjSelector: 1 })
    const x = randomNormal([3, 6], 2)
    const [h, ft, z] = model.predict(x) as Array<tf.Tensor>
    const features = encoder.predict(x) as tf.Tensor
    const direct = head.predict(features) as Array<tf.Tensor>
    expect(h!.shape).toEqual([3, 8])
    expect(ft!).toBeAllclose(direct[1]!, { rtol: 1e-6 })
    expect(z!).toBeAllclose(direct[3]!, { rtol: 1e-6 })
    expect(model.trainableWeights.length).toBe(encoder.trainableWeights.length + head.trainableWeights.length)
    expect(() => simclrModel(encoder, head, { ftProjSelector: 4 })).toThrow(/^options\.ftProjSelector: must be an integer from -4 to 3 for a head with 3 layer\(s\), got 4/)
    const last = simclrModel(encoder, head, { ftProjSelector: -1 })
    expect(last.outputs[1]!.shape).toEqual([null, 4])
    tf.dispose([x, h, ft, z, features, direct])
    // tfjs-layers' Container.dispose does not free variables of models nested in other models (the
    // nested container is only released once), so free the shared variables directly.
    for (const w of [...encoder.weights, ...head.weights]) w.dispose()
  })
})
