import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { allclose, randomNormal, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { headPresets, InvalidArgumentError, projectionHead, type ProjectionHeadConfig, SimclrBatchNormalization, supervisedHead } from "../src/index.ts"
import {
  batchNormParams,
  columnMoments,
  headForward,
  headParams,
  isBatchNorm,
  matmul,
  matrix,
  randomiseBatchNorm,
  randomiseBatchNorms,
  randomiseDense,
  roundTrip,
  savedLayers,
  standardise,
  weightNames
} from "./reference.ts"

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

const shortNames = (layer: tfl.layers.Layer): Array<string> => layer.weights.map((w) => w.originalName.split("/").at(-1)!)

/** A [..., C] tensor as rows of C values (every position of every image one row). */
const channelRows = (t: tf.Tensor): Array<Array<number>> => {
  const c = t.shape.at(-1)!
  const flat = Array.from(t.dataSync())
  return Array.from({ length: flat.length / c }, (_, i) => flat.slice(i * c, (i + 1) * c))
}

const batchNorms = (model: tfl.LayersModel): Array<tfl.layers.Layer> => model.layers.filter(isBatchNorm)

/** The moving average as tfjs-layers updates it: m·old + (1 − m)·batch. */
const mix = (momentum: number, old: Array<number>, batch: Array<number>): Array<number> => old.map((o, c) => momentum * o + (1 - momentum) * batch[c]!)

const batchNormStates = (m: tfl.LayersModel) => batchNorms(m).map(batchNormParams)

/** The loss Σ c ⊙ z of the head (in training or inference mode) with its gradients. */
const lossAndGrads = (head: tfl.LayersModel, h: tf.Tensor, c: tf.Tensor, training: boolean) =>
  tf.variableGrads(() => {
    const outputs = head.apply(h, { training }) as Array<tf.Tensor>
    return tf.sum(tf.mul(outputs.at(-1)!, c)) as tf.Scalar
  }, head.trainableWeights.map((w) => w.read() as tf.Variable))

/** Σᵢ cᵢⱼ·x̂ᵢⱼ: dL/dγⱼ of L = Σ c ⊙ (γ·x̂ + β). */
const gammaGradient = (c: Array<Array<number>>, xhat: Array<Array<number>>): Array<number> =>
  xhat[0]!.map((_, j) => xhat.reduce((s, row, i) => s + c[i]![j]! * row[j]!, 0))

const presetCases: Array<[string, ProjectionHeadConfig, number]> = [
  ["default (v2, 3 layers)", { inputDim: 12 }, 3],
  ["v1 preset", headPresets.v1(12), 2],
  ["v2 preset", headPresets.v2(12), 3],
  ["1-layer nonlinear", { inputDim: 12, numLayers: 1 }, 1],
  ["4 layers", { inputDim: 12, numLayers: 4, hiddenDim: 5 }, 4],
  ["linear", { inputDim: 12, mode: "linear" }, 1]
]

describe("projectionHead", () => {
  useLeakCheck()

  it("follows the official structure: dense without bias → BN, ReLU between, last BN without β", () => {
    const head = projectionHead({ inputDim: 16, numLayers: 3, outputDim: 8 })
    expect(head.outputs.map((o) => o.shape)).toEqual([[null, 16], [null, 16], [null, 16], [null, 8]])
    expect(head.layers.map((l) => l.getClassName())).toEqual([
      "InputLayer",
      "Dense",
      "BatchNormalization",
      "ReLU",
      "Dense",
      "BatchNormalization",
      "ReLU",
      "Dense",
      "SimclrBatchNormalization"
    ])
    const dense = head.layers.filter((l) => l.getClassName() === "Dense")
    expect(dense.map((l) => l.getConfig()["useBias"])).toEqual([false, false, false])
    const bn = batchNorms(head)
    // The last BN has no β weight at all (not a frozen one).
    expect(bn.map(shortNames)).toEqual([
      ["gamma", "beta", "moving_mean", "moving_variance"],
      ["gamma", "beta", "moving_mean", "moving_variance"],
      ["gamma", "moving_mean", "moving_variance"]
    ])
    expect(bn.map((l) => l.trainableWeights.length)).toEqual([2, 2, 1])
    expect(bn[2]).toBeInstanceOf(SimclrBatchNormalization)
    expect(bn.map((l) => l.getConfig()["center"])).toEqual([true, true, false])
    expect(bn.every((l) => l.getConfig()["momentum"] === 0.9 && l.getConfig()["epsilon"] === 1e-5)).toBe(true)
    // 3 dense (16·16, 16·16, 16·8) + BN γβ (16, 16) ×2 + γ (8).
    expect(count(head)).toBe(16 * 16 + 16 * 16 + 16 * 8 + 2 * 32 + 8)
    expect(head.trainableWeights.length).toBe(3 + 2 * 2 + 1)
    head.dispose()
  })

  it.each(presetCases)("%s: the last BN has no β weight; the others have γ and β", (_, config, layers) => {
    const head = projectionHead(config)
    const bn = batchNorms(head)
    expect(bn.length).toBe(layers)
    expect(bn.map(shortNames)).toEqual(bn.map((_l, j) => (j < layers - 1 ? ["gamma", "beta", "moving_mean", "moving_variance"] : ["gamma", "moving_mean", "moving_variance"])))
    expect(head.weights.some((w) => w.originalName === `projection_head.${layers - 1}.bn/beta`)).toBe(false)
    expect(head.trainableWeights.length).toBe(layers + 2 * (layers - 1) + 1)
    head.dispose()
  })

  it("lightly preset: both BNs keep γ and β (lightly's head has β in its last BN)", () => {
    const lightly = projectionHead(headPresets.lightly(32))
    const bn = batchNorms(lightly)
    expect(bn.map((l) => l.getClassName())).toEqual(["BatchNormalization", "BatchNormalization"])
    expect(bn.map(shortNames)).toEqual([
      ["gamma", "beta", "moving_mean", "moving_variance"],
      ["gamma", "beta", "moving_mean", "moving_variance"]
    ])
    expect(bn.map((l) => l.trainableWeights.length)).toEqual([2, 2])
    lightly.dispose()
  })

  it("outputs 128-d z by default, hidden layers as wide as h", () => {
    const head = projectionHead({ inputDim: 24 })
    expect(head.outputs.map((o) => o.shape)).toEqual([[null, 24], [null, 24], [null, 24], [null, 128]])
    for (const preset of [headPresets.v1(24), headPresets.v2(24), headPresets.lightly(24)]) {
      const m = projectionHead(preset)
      expect(m.outputs.at(-1)!.shape).toEqual([null, 128])
      m.dispose()
    }
    const linear = projectionHead({ inputDim: 24, mode: "linear" })
    expect(linear.outputs.at(-1)!.shape).toEqual([null, 128])
    linear.dispose()
    head.dispose()
  })

  it("computes, in inference, relu(γ·(hW₁ − m)/√(v + ε) + β) → γ·(·W₂ − m)/√(v + ε) as written out by hand", () => {
    const head = projectionHead({ inputDim: 4, numLayers: 2, hiddenDim: 3, outputDim: 2, seed: 3 })
    randomiseBatchNorms(head, 1)
    const h = randomNormal([5, 4], 1)
    const outputs = head.predict(h) as Array<tf.Tensor>
    const expected = headForward(matrix(h), headParams(head), false, 1e-5).outputs
    // float32 against float64 over two small matrix products.
    outputs.forEach((o, k) => expect(o).toBeAllclose(expected[k]!, { rtol: 1e-5, atol: 1e-6 }))
    tf.dispose([h, outputs])
    head.dispose()
  })

  it("computes, in training, each BN with batch moments (last: γ·(x − μ)/√(σ² + ε), no offset), to 1e-5", () => {
    const head = projectionHead({ inputDim: 5, numLayers: 3, hiddenDim: 4, outputDim: 3, seed: 7 })
    randomiseBatchNorms(head, 2)
    const h = randomNormal([8, 5], 3)
    const before = headParams(head)
    const outputs = head.apply(h, { training: true }) as Array<tf.Tensor>
    const expected = headForward(matrix(h), before, true, 1e-5)
    outputs.forEach((o, k) => expect(o).toBeAllclose(expected.outputs[k]!, { rtol: 1e-5, atol: 1e-5 }))
    // The last layer on its own: γ·(x − μ)/√(σ² + ε) of its dense output, nothing added.
    const a = expected.preBn[2]!
    const m = columnMoments(a)
    const z = standardise(a, m.mean, m.variance, 1e-5).map((row) => row.map((v, j) => before[2]!.bn.gamma[j]! * v))
    expect(outputs[3]!).toBeAllclose(z, { rtol: 1e-5, atol: 1e-5 })
    tf.dispose([h, outputs])
    head.dispose()
  })

  it("updates moving mean and variance by momentum with the batch's biased (÷B) variance, as tfjs-layers does", () => {
    const momentum = 0.7
    const head = projectionHead({ inputDim: 5, numLayers: 2, hiddenDim: 4, outputDim: 3, seed: 8, batchNormMomentum: momentum })
    randomiseBatchNorms(head, 3)
    randomiseDense(head, 3)
    const h = randomNormal([4, 5], 4)
    const before = headParams(head)
    const { moments } = headForward(matrix(h), before, true, 1e-5)
    tf.dispose(head.apply(h, { training: true }) as Array<tf.Tensor>)
    const after = headParams(head)
    expect(batchNorms(head).map((l) => l.getConfig()["momentum"])).toEqual([momentum, momentum])
    before.forEach((layer, j) => {
      expect(after[j]!.bn.movingMean).toBeAllclose(mix(momentum, layer.bn.movingMean, moments[j]!.mean), { rtol: 1e-5, atol: 1e-6 })
      expect(after[j]!.bn.movingVariance).toBeAllclose(mix(momentum, layer.bn.movingVariance, moments[j]!.variance), { rtol: 1e-5, atol: 1e-6 })
      // Not the unbiased (÷(B − 1)) batch variance.
      expect(allclose(after[j]!.bn.movingVariance, mix(momentum, layer.bn.movingVariance, moments[j]!.unbiased), { rtol: 1e-3 }).pass).toBe(false)
    })
    tf.dispose(h)
    head.dispose()
  })

  it("trains: gradients of every trainable weight (no β in the last BN), dL/dγ as by hand, and a step lowers the loss by lr·‖g‖²", () => {
    const head = projectionHead({ inputDim: 4, numLayers: 2, hiddenDim: 3, outputDim: 2, seed: 4 })
    randomiseBatchNorms(head, 4)
    randomiseDense(head, 4)
    const h = randomNormal([6, 4], 2)
    const c = randomNormal([6, 2], 5)
    const { value, grads } = lossAndGrads(head, h, c, true)
    const names = head.trainableWeights.map((w) => w.originalName)
    expect(names.toSorted()).toEqual(["projection_head.0.bn/beta", "projection_head.0.bn/gamma", "projection_head.0.dense/kernel", "projection_head.1.bn/gamma", "projection_head.1.dense/kernel"])
    const vars = head.trainableWeights.map((w) => w.read() as tf.Variable)
    expect(vars.map((v) => grads[v.name] !== undefined)).toEqual([true, true, true, true, true])
    // dL/dγ of the last BN: Σᵢ cᵢⱼ·x̂ᵢⱼ with x̂ standardised by the batch moments.
    const reference = headForward(matrix(h), headParams(head), true, 1e-5)
    const gammaLast = vars[names.indexOf("projection_head.1.bn/gamma")]!
    expect(grads[gammaLast.name]!).toBeAllclose(gammaGradient(matrix(c), reference.normalised[1]!), { rtol: 1e-4, atol: 1e-5 })
    // One SGD step of length 10⁻⁴: L(w − lr·g) ≈ L(w) − lr·‖g‖² to first order.
    const squared = Object.values(grads).reduce((s, g) => s + Array.from(g.dataSync()).reduce((a, v) => a + v * v, 0), 0)
    expect(squared).toBeGreaterThan(0)
    const lr = 1e-4 / Math.sqrt(squared)
    for (const v of vars) tf.tidy(() => v.assign(tf.sub(v, tf.mul(grads[v.name]!, lr))))
    const after = tf.tidy(() => tf.sum(tf.mul((head.apply(h, { training: true }) as Array<tf.Tensor>).at(-1)!, c)))
    const drop = (value.arraySync() as number) - (after.arraySync() as number)
    expect(drop).toBeGreaterThan(0)
    expect(Math.abs(drop / (lr * squared) - 1)).toBeLessThan(0.01)
    tf.dispose([value, h, c, after, ...Object.values(grads)])
    head.dispose()
  })

  it("takes gradients in inference mode too (moving statistics; dL/dγ as by hand)", () => {
    const head = projectionHead({ inputDim: 4, mode: "linear", outputDim: 3, seed: 5 })
    randomiseBatchNorms(head, 5)
    const h = randomNormal([6, 4], 6)
    const c = randomNormal([6, 3], 7)
    const { value, grads } = lossAndGrads(head, h, c, false)
    const reference = headForward(matrix(h), headParams(head), false, 1e-5)
    const gamma = head.trainableWeights.find((w) => w.originalName.endsWith("/gamma"))!.read() as tf.Variable
    expect(grads[gamma.name]!).toBeAllclose(gammaGradient(matrix(c), reference.normalised[0]!), { rtol: 1e-4, atol: 1e-5 })
    expect(Object.keys(grads).length).toBe(2)
    tf.dispose([value, h, c, ...Object.values(grads)])
    head.dispose()
  })

  it("linear mode: one dense without bias → BN without β, no ReLU; values as by hand in inference and training", () => {
    const head = projectionHead({ inputDim: 6, mode: "linear", outputDim: 4, seed: 9 })
    expect(head.layers.map((l) => l.getClassName())).toEqual(["InputLayer", "Dense", "SimclrBatchNormalization"])
    expect(head.getLayer("projection_head.0.dense").getConfig()["useBias"]).toBe(false)
    expect(shortNames(head.getLayer("projection_head.0.bn"))).toEqual(["gamma", "moving_mean", "moving_variance"])
    randomiseBatchNorms(head, 6)
    const h = randomNormal([7, 6], 8)
    const x = matrix(h)
    const [{ kernel, bn }] = headParams(head) as [ReturnType<typeof headParams>[0]]
    const a = matmul(x, kernel)
    const inference = standardise(a, bn.movingMean, bn.movingVariance, 1e-5).map((row) => row.map((v, j) => bn.gamma[j]! * v))
    const m = columnMoments(a)
    const training = standardise(a, m.mean, m.variance, 1e-5).map((row) => row.map((v, j) => bn.gamma[j]! * v))
    // A ReLU would zero every negative value; the hand-computed z has negative entries.
    expect(inference.flat().some((v) => v < -0.1)).toBe(true)
    const predicted = head.predict(h) as Array<tf.Tensor>
    expect(predicted[0]!).toBeAllclose(x, { rtol: 0, atol: 0 })
    expect(predicted[1]!).toBeAllclose(inference, { rtol: 1e-5, atol: 1e-6 })
    const trained = head.apply(h, { training: true }) as Array<tf.Tensor>
    expect(trained[1]!).toBeAllclose(training, { rtol: 1e-5, atol: 1e-5 })
    tf.dispose([h, predicted, trained])
    head.dispose()
  })

  it("none mode: z is h exactly (inference and training), no weights", () => {
    const head = projectionHead({ inputDim: 8, mode: "none" })
    expect(head.outputs.map((o) => o.shape)).toEqual([[null, 8], [null, 8]])
    expect(head.weights.length).toBe(0)
    const h = randomNormal([3, 8], 9)
    for (const training of [false, true]) {
      const [out, z] = head.apply(h, { training }) as Array<tf.Tensor>
      expect(Array.from(z!.dataSync())).toEqual(Array.from(h.dataSync()))
      expect(Array.from(out!.dataSync())).toEqual(Array.from(h.dataSync()))
      tf.dispose([out, z])
    }
    tf.dispose(h)
    head.dispose()
  })

  it.each([
    ["v2 (last BN without β)", { inputDim: 6, numLayers: 3, hiddenDim: 5, outputDim: 4, seed: 1 }],
    ["v1 preset", headPresets.v1(6)],
    ["linear", { inputDim: 6, mode: "linear", outputDim: 3, seed: 2 }],
    ["lightly preset (last BN with β)", headPresets.lightly(6)],
    ["none", { inputDim: 6, mode: "none" }]
  ] as Array<[string, ProjectionHeadConfig]>)("%s: save → load keeps the weights, names and outputs (inference and training) exactly", async (_, config) => {
    const head = projectionHead(config)
    randomiseBatchNorms(head, 7)
    const { artifacts, loaded } = await roundTrip(head)
    const center = config.lastBatchNormCenter === true
    const layers = savedLayers(artifacts).filter((l) => l.className.endsWith("BatchNormalization"))
    expect(layers.map((l) => [l.className, l.center])).toEqual(
      layers.map((_l, j) => (j === layers.length - 1 && !center ? ["SimclrBatchNormalization", false] : ["BatchNormalization", true]))
    )
    expect(loaded.trainableWeights.length).toBe(head.trainableWeights.length)
    expect(weightNames(loaded.trainableWeights)).toEqual(weightNames(head.trainableWeights))
    expect(weightNames(loaded.weights)).toEqual(weightNames(head.weights))
    expect(loaded.layers.map((l) => l.getClassName())).toEqual(head.layers.map((l) => l.getClassName()))
    const h = randomNormal([5, 6], 10)
    const a = head.predict(h) as Array<tf.Tensor>
    const b = loaded.predict(h) as Array<tf.Tensor>
    a.forEach((t, k) => expect(Array.from(b[k]!.dataSync())).toEqual(Array.from(t.dataSync())))
    const ta = head.apply(h, { training: true }) as Array<tf.Tensor>
    const tb = loaded.apply(h, { training: true }) as Array<tf.Tensor>
    ta.forEach((t, k) => expect(Array.from(tb[k]!.dataSync())).toEqual(Array.from(t.dataSync())))
    // …and the moving statistics they updated.
    expect(batchNormStates(loaded)).toEqual(batchNormStates(head))
    tf.dispose([h, a, b, ta, tb])
    head.dispose()
    loaded.dispose()
  })

  it("initialises dense layers N(0, 0.01²), seeded", () => {
    const a = firstDenseWeights(1)
    expect(firstDenseWeights(1)).toEqual(a)
    // Seed 0 (the default) must be a seed too: tfjs reads an initializer seed of 0 as "unseeded".
    expect(firstDenseWeights(0)).toEqual(firstDenseWeights(0))
    expect(supervisedKernel()).toEqual(supervisedKernel())
    expect(firstDenseWeights(2)).not.toEqual(a)
    // 64·64 draws: the sample std of N(0, 0.01²) is within 10 % of 0.01 (its own std is 0.01/√8192).
    const std = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length)
    expect(Math.abs(std - 0.01)).toBeLessThan(0.001)
  })

  it("names bad options", () => {
    expect(() => projectionHead({} as never)).toThrow(/^config\.inputDim: is required/)
    expect(() => projectionHead({ inputDim: 8, mode: "mlp" as never })).toThrow(/^config\.mode: must be one of "none", "linear", "nonlinear"; got "mlp"/)
    expect(() => projectionHead({ inputDim: 8, numLayers: 0 })).toThrow(InvalidArgumentError)
    expect(() => projectionHead({ inputDim: 8, lastBatchNormCenter: "yes" as never })).toThrow(/^config\.lastBatchNormCenter: must be true or false, got "yes"/)
  })
})

describe("SimclrBatchNormalization", () => {
  useLeakCheck()

  it("with center: false computes γ·(x − μ)/√(σ² + ε) in training and γ·(x − m)/√(v + ε) in inference, on rank 2 and 4", () => {
    for (const shape of [[6, 3], [2, 3, 2, 3]]) {
      const bn = new SimclrBatchNormalization({ center: false, momentum: 0.8, epsilon: 1e-3 })
      const x = randomNormal(shape, 11, { mean: 0.5, std: 2 })
      bn.build(shape)
      randomiseBatchNorm(bn, 8)
      expect(shortNames(bn)).toEqual(["gamma", "moving_mean", "moving_variance"])
      const { gamma, movingMean, movingVariance } = batchNormParams(bn)
      const rows = channelRows(x)
      const m = columnMoments(rows)
      const scale = (xs: Array<Array<number>>) => xs.map((row) => row.map((v, j) => gamma[j]! * v))
      const inference = bn.apply(x, { training: false }) as tf.Tensor
      const training = bn.apply(x, { training: true }) as tf.Tensor
      expect(channelRows(inference)).toBeAllclose(scale(standardise(rows, movingMean, movingVariance, 1e-3)), { rtol: 1e-5, atol: 1e-5 })
      expect(channelRows(training)).toBeAllclose(scale(standardise(rows, m.mean, m.variance, 1e-3)), { rtol: 1e-5, atol: 1e-5 })
      tf.dispose([x, inference, training])
      for (const w of bn.weights) w.dispose() // Layer.dispose refuses a layer never applied symbolically
    }
  })
})

describe("supervisedHead", () => {
  useLeakCheck()

  it("with inputDim: a model, dense with bias, N(0, 0.01²) or zeros", () => {
    const head = supervisedHead(10, { inputDim: 32, seed: 1 })
    const zero = supervisedHead(10, { inputDim: 32, zeroInit: true })
    expect(head).toBeInstanceOf(tfl.LayersModel)
    expect(count(head)).toBe(32 * 10 + 10)
    expect(weightNames(head.weights)).toEqual(["head_supervised.dense/kernel", "head_supervised.dense/bias"])
    expect(Array.from(zero.getWeights()[0]!.dataSync()).every((v) => v === 0)).toBe(true)
    expect(Array.from(head.getWeights()[0]!.dataSync()).some((v) => v !== 0)).toBe(true)
    expect(Array.from(head.getWeights()[1]!.dataSync()).every((v) => v === 0)).toBe(true)
    head.dispose()
    zero.dispose()
  })

  it("supervisedHead(numClasses, { zeroInit }) as the issue calls it: a dense layer whose input width comes from its input", () => {
    const classifier = supervisedHead(3, { zeroInit: true })
    expect(classifier).not.toBeInstanceOf(tfl.LayersModel)
    expect(classifier.getClassName()).toBe("Dense")
    expect(classifier.name).toBe("head_supervised.dense")
    const ft = randomNormal([4, 7], 12)
    const logits = classifier.apply(ft) as tf.Tensor
    expect(weightNames(classifier.weights)).toEqual(["head_supervised.dense/kernel", "head_supervised.dense/bias"])
    expect(classifier.weights.map((w) => w.shape)).toEqual([[7, 3], [3]])
    expect(Array.from(logits.dataSync())).toEqual(Array.from({ length: 12 }, () => 0))
    tf.dispose([ft, logits])
    classifier.dispose()
  })

  it("the layer form computes ft·W + b (as by hand) and has the model form's initial kernel for the same seed", () => {
    const layer = supervisedHead(3, { seed: 4 })
    const model = supervisedHead(3, { inputDim: 5, seed: 4 })
    const input = tfl.input({ shape: [5] })
    // Applied in a functional model: built from the symbolic input's width.
    const functional = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor })
    expect(Array.from(layer.getWeights()[0]!.dataSync())).toEqual(Array.from(model.getWeights()[0]!.dataSync()))
    const bias = tf.tensor1d([0.5, -1, 2])
    layer.setWeights([layer.getWeights()[0]!, bias])
    const ft = randomNormal([4, 5], 13)
    const logits = functional.predict(ft) as tf.Tensor
    const expected = matmul(matrix(ft), matrix(layer.getWeights()[0]!)).map((row) => row.map((v, j) => v + [0.5, -1, 2][j]!))
    expect(logits).toBeAllclose(expected, { rtol: 1e-5, atol: 1e-7 })
    tf.dispose([bias, ft, logits])
    functional.dispose()
    model.dispose()
  })

  it("names bad arguments", () => {
    expect(() => supervisedHead(0, { inputDim: 4 })).toThrow(/^numClasses: must be an integer in \[1, 16777216\], got 0/)
    expect(() => supervisedHead(undefined as never)).toThrow(/^numClasses: is required/)
    expect(() => supervisedHead(3, { inputDim: 0 })).toThrow(/^options\.inputDim: must be an integer in \[1, 1048576\], got 0/)
    expect(() => supervisedHead(3, { zeroInit: 1 as never })).toThrow(/^options\.zeroInit: must be true or false, got 1/)
    expect(() => supervisedHead(3, { classes: 3 } as never)).toThrow(/^options\.classes: unknown option/)
  })
})
