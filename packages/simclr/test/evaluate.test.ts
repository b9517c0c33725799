import { expectAllclose, randomNormal, useLeakCheck } from "@simclr/test-utils"
import * as tf from "@tensorflow/tfjs-core"
import { describe, expect, it } from "vitest"
import { accuracyOf, knnEvaluate, knnScores, linearEvaluate, linearProbeAccuracy, trainLinearProbe } from "../src/index.ts"

useLeakCheck()

/** A neighbour's vote at temperature 0.5. */
const w = (cos: number) => Math.exp(cos / 0.5)

/** n points per class around well separated centres (class c at 6·e_c), with unit noise: the Bayes error is ~0.1 %. */
const clusters = (perClass: number, classes: number, dim: number, seed: number) => {
  const noise = randomNormal([perClass * classes, dim], seed)
  const labels = new Int32Array(perClass * classes).map((_v, i) => i % classes)
  const centres = tf.tidy(() => tf.mul(tf.oneHot(tf.tensor1d(labels, "int32"), dim), 6))
  const x = tf.tidy(() => tf.add(noise, centres) as tf.Tensor2D)
  tf.dispose([noise, centres])
  return { x, labels }
}

describe("kNN (lightly's weighted vote)", () => {
  it("scores a hand-computed case: cosine similarity, top k, weights exp(sim / t) summed per class", () => {
    const train = tf.tensor2d([[1, 0], [0, 2], [1, 1], [-1, 0]])
    const test = tf.tensor2d([[3, 1]])
    const scores = knnScores(train, new Int32Array([0, 1, 1, 2]), test, { k: 3, temperature: 0.5, classes: 3 })
    // cosines with (3,1)/√10: (1,0) → 3/√10, (0,1) → 1/√10, (1,1)/√2 → 4/√20, (−1,0) → −3/√10.
    // Top 3: train 0 (class 0), 2 (class 1), 1 (class 1).
    const expected = [w(3 / Math.sqrt(10)), w(4 / Math.sqrt(20)) + w(1 / Math.sqrt(10)), 0]
    Array.from(scores.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 4))
    tf.dispose([train, test, scores])
  })

  it("classifies separable clusters perfectly, in chunks as in one piece", () => {
    const a = clusters(30, 4, 8, 1)
    const b = clusters(10, 4, 8, 2)
    const whole = knnEvaluate(a.x, a.labels, b.x, b.labels, { k: 20 })
    const chunked = knnEvaluate(a.x, a.labels, b.x, b.labels, { k: 20, chunkSize: 7 })
    expect(whole).toEqual({ top1: 1, top5: 1, count: 40 })
    expect(chunked).toEqual(whole)
    tf.dispose([a.x, b.x])
  })

  it("accuracyOf counts top-1 and top-5 hits", () => {
    // Row 0: label 2 is first; row 1: label 0 is third; row 2: label 5 is last of 6 (not in the top 5).
    const scores = tf.tensor2d([[0, 1, 9, 2, 3, 4], [5, 9, 8, 1, 2, 3], [9, 8, 7, 6, 5, 0]])
    expect(accuracyOf(scores, new Int32Array([2, 0, 5]))).toEqual({ top1: 1 / 3, top5: 2 / 3, count: 3 })
    scores.dispose()
  })
})

describe("linear probe (official linear evaluation)", () => {
  it("one step from zero weights is −lr·(softmax − onehot)ᵀx / B, as derived by hand", () => {
    // Zero weights: softmax is uniform 1/C. With momentum 0 and one step of lr (cosine at step 0 = lr):
    // kernel = −lr · Xᵀ(1/C − Y)/B, bias = −lr · Σ(1/C − Y)/B.
    const x = tf.tensor2d([[1, 2], [3, -1], [0, 1]])
    const labels = new Int32Array([0, 1, 1])
    const probe = trainLinearProbe(x, labels, { classes: 2, epochs: 1, batchSize: 3, learningRate: 256 / 3, momentum: 0 })
    // scaled lr = base·B/256 = 1.
    const rows = [[1, 2], [3, -1], [0, 1]]
    const expectedKernel = [0, 1].flatMap((dIdx) => [0, 1].map((cls) => -rows.reduce((s, r, i) => s + r[dIdx]! * (0.5 - (labels[i] === cls ? 1 : 0)), 0) / 3))
    Array.from(probe.kernel.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expectedKernel[i]!, 6))
    const expectedBias = [0, 1].map((cls) => -[0, 1, 2].reduce((s, i) => s + (0.5 - (labels[i] === cls ? 1 : 0)), 0) / 3)
    Array.from(probe.bias.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expectedBias[i]!, 6))
    tf.dispose([x, probe.kernel, probe.bias])
  })

  it("learns separable clusters, and is reproducible from its seed", () => {
    const a = clusters(40, 5, 10, 3)
    const b = clusters(20, 5, 10, 4)
    const options = { classes: 5, epochs: 20, batchSize: 32, seed: 7 }
    const probe = trainLinearProbe(a.x, a.labels, options)
    expect(linearProbeAccuracy(probe, b.x, b.labels).top1).toBeGreaterThanOrEqual(0.98)
    const again = trainLinearProbe(a.x, a.labels, options)
    expect(Array.from(again.kernel.dataSync())).toEqual(Array.from(probe.kernel.dataSync()))
    // linearEvaluate: the same probe and accuracy in one call, the probe freed (the leak check covers it).
    expect(linearEvaluate(a.x, a.labels, b.x, b.labels, options)).toEqual(linearProbeAccuracy(probe, b.x, b.labels))
    tf.dispose([a.x, b.x, probe.kernel, probe.bias, again.kernel, again.bias])
  })

  it("standardize: trains on (x − μ)/σ and folds μ, σ into the probe (logits equal training on standardised features)", () => {
    // Columns on very different scales and offsets; the reference standardises with tf.moments.
    const raw = clusters(30, 3, 6, 5)
    const x = tf.tidy(() => tf.add(tf.mul(raw.x, tf.tensor1d([1000, 0.01, 1, 50, 3, 0.2])), tf.tensor1d([5, -2, 0, 100, 1, 0])) as tf.Tensor2D)
    const reference = tf.tidy(() => {
      const { mean, variance } = tf.moments(x, 0)
      return tf.div(tf.sub(x, mean), tf.sqrt(variance)) as tf.Tensor2D
    })
    const options = { classes: 3, epochs: 5, batchSize: 16, seed: 2 }
    const folded = trainLinearProbe(x, raw.labels, { ...options, standardize: true })
    const plain = trainLinearProbe(reference, raw.labels, options)
    const logits = tf.tidy(() => tf.add(tf.matMul(x, folded.kernel), folded.bias))
    const expected = tf.tidy(() => tf.add(tf.matMul(reference, plain.kernel), plain.bias))
    // float32 through different roundings of the standardised rows: 1e-4 relative on logits of order 1–10.
    expectAllclose(logits, expected, { rtol: 1e-4, atol: 1e-4 })
    expect(linearProbeAccuracy(folded, x, raw.labels).top1).toBeGreaterThanOrEqual(0.95)
    tf.dispose([raw.x, x, reference, folded.kernel, folded.bias, plain.kernel, plain.bias, logits, expected])
  })
})
