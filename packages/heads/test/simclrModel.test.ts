import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { onBackendWithKernel, randomNormal, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { projectionHead, simclrModel } from "../src/index.ts"
import { disposeAll, headForward, headParams, matrix, randomiseBatchNorms, randomiseDense, roundTrip, savedLayers, weightNames } from "./reference.ts"

/** A tiny convolutional encoder: 8×8×3 → conv 3×3 (4) → BN → ReLU → conv 3×3 stride 2 (6) → BN → ReLU → global average → h [B, 6]. */
const convEncoder = (): tfl.LayersModel => {
  const input = tfl.input({ shape: [8, 8, 3], name: "enc.input" })
  let x = input
  for (const [j, filters, strides] of [[0, 4, 1], [1, 6, 2]] as const) {
    x = tfl.layers.conv2d({ filters, kernelSize: 3, strides, padding: "same", useBias: false, kernelInitializer: tfl.initializers.heNormal({ seed: j + 1 }), name: `enc.${j}.conv` }).apply(x) as tfl.SymbolicTensor
    x = tfl.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: `enc.${j}.bn` }).apply(x) as tfl.SymbolicTensor
    x = tfl.layers.reLU({ name: `enc.${j}.relu` }).apply(x) as tfl.SymbolicTensor
  }
  const h = tfl.layers.globalAveragePooling2d({ name: "enc.pool" }).apply(x) as tfl.SymbolicTensor
  return tfl.model({ inputs: input, outputs: h, name: "encoder" })
}

const denseEncoder = (): tfl.LayersModel => {
  const input = tfl.input({ shape: [6] })
  return tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 8, name: "enc" }).apply(input) as tfl.SymbolicTensor, name: "dense_encoder" })
}

/** tfjs' own wasm backend cannot differentiate a convolution with respect to its kernel. */
const hasConvGradient = tf.getKernel("Conv2DBackpropFilter", tf.getBackend()) !== undefined

const values = (t: tf.Tensor): Array<number> => Array.from(t.dataSync())

/** Σ c ⊙ z of the model in training mode. */
const loss = (model: tfl.LayersModel, x: tf.Tensor, c: tf.Tensor): tf.Scalar => tf.sum(tf.mul((model.apply(x, { training: true }) as Array<tf.Tensor>)[2]!, c))

/** The gradient-step check of simclrModel, on the current backend. */
const gradientStep = (): void => {
  const encoder = convEncoder()
  const head = projectionHead({ inputDim: 6, numLayers: 3, hiddenDim: 5, outputDim: 4, seed: 6 })
  randomiseBatchNorms(encoder, 4)
  randomiseBatchNorms(head, 5)
  randomiseDense(head, 5)
  const model = simclrModel(encoder, head, { ftProjSelector: 1 })
  const x = randomNormal([6, 8, 8, 3], 5)
  const c = randomNormal([6, 4], 6)
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable)
  // 2 convolutions + 2 encoder BNs (γ, β) + 3 dense + 2 head BNs (γ, β) + the last BN's γ.
  expect(vars.length).toBe(2 + 4 + 3 + 4 + 1)
  expect(weightNames(model.trainableWeights).filter((n) => n.endsWith("/beta"))).toEqual(["enc.0.bn/beta", "enc.1.bn/beta", "projection_head.0.bn/beta", "projection_head.1.bn/beta"])
  const { value, grads } = tf.variableGrads(() => loss(model, x, c), vars)
  expect(vars.every((v) => grads[v.name] !== undefined && values(grads[v.name]!).some((g) => g !== 0) && values(grads[v.name]!).every(Number.isFinite))).toBe(true)
  const squared = Object.values(grads).reduce((s, g) => s + values(g).reduce((a, v) => a + v * v, 0), 0)
  // Steps of length 10⁻⁴ along ∓g (at 10⁻³ the curvature of batch-normalised layers on 6 images already
  // shows): a step down lowers the loss by lr·‖g‖² to first order, and the central difference of the
  // loss along g is lr·‖g‖² to second order.
  const lr = 1e-4 / Math.sqrt(squared)
  const start = vars.map((v) => v.clone())
  const lossAt = (sign: number): number => {
    vars.forEach((v, i) => tf.tidy(() => v.assign(tf.add(start[i]!, tf.mul(grads[v.name]!, sign * lr)))))
    return tf.tidy(() => loss(model, x, c).arraySync() as number)
  }
  const down = lossAt(-1)
  const up = lossAt(1)
  const initial = value.arraySync() as number
  expect(down).toBeLessThan(initial)
  expect(Math.abs((initial - down) / (lr * squared) - 1)).toBeLessThan(0.01)
  expect(Math.abs((up - down) / 2 / (lr * squared) - 1)).toBeLessThan(2e-3)
  tf.dispose([x, c, value, start, ...Object.values(grads)])
  disposeAll(encoder, head)
}

describe("simclrModel", () => {
  useLeakCheck()

  it("returns h, the selected head layer and z, sharing the parts' weights", () => {
    const encoder = denseEncoder()
    const head = projectionHead({ inputDim: 8, numLayers: 3, outputDim: 4 })
    const model = simclrModel(encoder, head, { ftProjSelector: 1 })
    expect(model.outputs.map((o) => o.shape)).toEqual([[null, 8], [null, 8], [null, 4]])
    expect(model.trainableWeights.length).toBe(encoder.trainableWeights.length + head.trainableWeights.length)
    expect(new Set(model.weights)).toEqual(new Set([...encoder.weights, ...head.weights]))
    expect(() => simclrModel(encoder, head, { ftProjSelector: 4 })).toThrow(/^options\.ftProjSelector: must be an integer from -4 to 3 for a head with 3 layer\(s\), got 4/)
    expect(() => simclrModel(encoder, head, { ftProjSelector: -5 })).toThrow(/^options\.ftProjSelector: must be an integer from -4 to 3/)
    expect(() => simclrModel(encoder, head, { ftProjSelector: 0.5 })).toThrow(/^options\.ftProjSelector: must be an integer/)
    // ftProjSelector 0 (the default) and −(layers + 1) select h itself.
    const x = randomNormal([3, 6], 1)
    for (const k of [undefined, 0, -4]) {
      const outputs = simclrModel(encoder, head, k === undefined ? {} : { ftProjSelector: k }).predict(x) as Array<tf.Tensor>
      expect(values(outputs[1]!)).toEqual(values(outputs[0]!))
      tf.dispose(outputs)
    }
    tf.dispose(x)
    // tfjs-layers' Container.dispose does not free variables of models nested in other models (the
    // nested container is only released once), so free the shared variables directly.
    disposeAll(encoder, head)
  })

  it.each([0, 1, 2, 3, -1, -2, -3, -4])("ftProjSelector %i: ft is head output k (0 = h, negative from the end), exactly", (k) => {
    const encoder = denseEncoder()
    const head = projectionHead({ inputDim: 8, numLayers: 3, hiddenDim: 5, outputDim: 4, seed: 3 })
    randomiseBatchNorms(head, 1)
    const model = simclrModel(encoder, head, { ftProjSelector: k })
    const x = randomNormal([5, 6], 2)
    for (const training of [false, true]) {
      const [h, ft, z] = model.apply(x, { training }) as Array<tf.Tensor>
      const direct = head.apply(h!, { training }) as Array<tf.Tensor>
      const index = k < 0 ? 4 + k : k
      expect(values(ft!)).toEqual(values(direct[index]!))
      expect(values(z!)).toEqual(values(direct[3]!))
      tf.dispose([h, ft, z, direct])
    }
    tf.dispose(x)
    disposeAll(encoder, head)
  })

  it("with a convolutional encoder in training mode: h from the encoder's batch statistics, ft and z as the head written out by hand", () => {
    const encoder = convEncoder()
    const head = projectionHead({ inputDim: 6, numLayers: 3, hiddenDim: 5, outputDim: 4, seed: 5 })
    randomiseBatchNorms(encoder, 2)
    randomiseBatchNorms(head, 3)
    const model = simclrModel(encoder, head, { ftProjSelector: 1 })
    const x = randomNormal([6, 8, 8, 3], 4)
    const parameters = headParams(head)
    const [h, ft, z] = model.apply(x, { training: true }) as Array<tf.Tensor>
    const alone = encoder.apply(x, { training: true }) as tf.Tensor
    expect(values(h!)).toEqual(values(alone))
    // The encoder's BNs normalise with batch statistics in training: h differs from inference.
    const inference = model.predict(x) as Array<tf.Tensor>
    expect(values(inference[0]!)).not.toEqual(values(h!))
    const reference = headForward(matrix(h!), parameters, true, 1e-5)
    expect(ft!).toBeAllclose(reference.outputs[1]!, { rtol: 1e-5, atol: 1e-5 })
    expect(z!).toBeAllclose(reference.outputs[3]!, { rtol: 1e-5, atol: 1e-5 })
    tf.dispose([x, h, ft, z, alone, inference])
    disposeAll(encoder, head)
  })

  it(`takes a gradient step through encoder and head: every trainable weight gets a gradient, the loss drops by lr·‖g‖²${hasConvGradient ? "" : ` (on the cpu backend: ${tf.getBackend()} has no Conv2DBackpropFilter kernel; @simclr/wasm-kernels adds it to wasm)`}`, async () => {
    expect(await onBackendWithKernel("Conv2DBackpropFilter", gradientStep)).toBe(hasConvGradient ? tf.getBackend() : "cpu")
  })


  it("survives save → load: the same weights by name, h, ft and z exactly (inference and training)", async () => {
    const encoder = convEncoder()
    const head = projectionHead({ inputDim: 6, numLayers: 3, hiddenDim: 5, outputDim: 4, seed: 7 })
    randomiseBatchNorms(encoder, 6)
    randomiseBatchNorms(head, 7)
    const model = simclrModel(encoder, head, { ftProjSelector: 1 })
    const { artifacts, loaded } = await roundTrip(model)
    expect(savedLayers(artifacts).filter((l) => l.className.endsWith("BatchNormalization")).map((l) => [l.className, l.name, l.center])).toEqual([
      ["BatchNormalization", "enc.0.bn", true],
      ["BatchNormalization", "enc.1.bn", true],
      ["BatchNormalization", "projection_head.0.bn", true],
      ["BatchNormalization", "projection_head.1.bn", true],
      ["SimclrBatchNormalization", "projection_head.2.bn", false]
    ])
    expect(loaded.trainableWeights.length).toBe(model.trainableWeights.length)
    expect(weightNames(loaded.trainableWeights)).toEqual(weightNames(model.trainableWeights))
    expect(weightNames(loaded.weights)).toEqual(weightNames(model.weights))
    expect(loaded.outputs.map((o) => o.shape)).toEqual(model.outputs.map((o) => o.shape))
    const x = randomNormal([4, 8, 8, 3], 8)
    for (const training of [false, true]) {
      const a = model.apply(x, { training }) as Array<tf.Tensor>
      const b = loaded.apply(x, { training }) as Array<tf.Tensor>
      expect(b.map(values)).toEqual(a.map(values))
      tf.dispose([a, b])
    }
    tf.dispose(x)
    disposeAll(encoder, head, loaded)
  })
})
