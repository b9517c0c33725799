import * as tf from "@tensorflow/tfjs-core"
import { randomNormal, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { ntXentMetrics } from "../src/index.ts"
import { type Matrix, ntXentMetricsRef, toMatrix } from "./reference.ts"

const matrix = (t: tf.Tensor): Matrix => toMatrix(t.dataSync(), t.shape[0]!, t.shape[1]!)

describe("ntXentMetrics", () => {
  useLeakCheck()

  it("hand-derived: perfect pairs give accuracy 1; swapped pairs accuracy 0", () => {
    const z = tf.tensor2d([[1, 0], [0, 1]])
    const swapped = tf.tensor2d([[0, 1], [1, 0]])
    const perfect = ntXentMetrics(z, z, { temperature: 1 })
    expect(perfect.accuracy.dataSync()[0]).toBe(1)
    // logits rows (1, 0): p = (e, 1)/(e + 1); entropy = −Σ p ln p.
    const p = Math.E / (Math.E + 1)
    expect(perfect.entropy.dataSync()[0]).toBeCloseTo(-(p * Math.log(p) + (1 - p) * Math.log(1 - p)), 6)
    const wrong = ntXentMetrics(z, swapped, { temperature: 1 })
    expect(wrong.accuracy.dataSync()[0]).toBe(0)
    tf.dispose([z, swapped, perfect, wrong])
  })

  it("equals the float64 reference on random embeddings and accepts the ntXent options object", () => {
    const [z1, z2, q] = [randomNormal([32, 16], 1), randomNormal([32, 16], 2), randomNormal([5, 16], 3)] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D]
    // Correlated views so that accuracy is neither 0 nor 1.
    const z2c = tf.tidy(() => tf.add(z1, tf.mul(z2, 1.2))) as tf.Tensor2D
    const options = { temperature: 0.5, reduction: "official", negatives: q } as const
    const ref = ntXentMetricsRef(matrix(z1), matrix(z2c), { temperature: 0.5, normalize: true })
    const m = ntXentMetrics(z1, z2c, options)
    expect(ref.accuracy).toBeGreaterThan(0)
    expect(ref.accuracy).toBeLessThan(1)
    expect(m.accuracy).toBeAllclose(ref.accuracy, { rtol: 1e-6 })
    expect(m.entropy).toBeAllclose(ref.entropy, { rtol: 1e-5 })
    tf.dispose([z1, z2, q, z2c, m])
  })

  it("without normalisation uses raw dot products; a single pair is always correct", () => {
    const [z1, z2] = [randomNormal([16, 8], 4, { std: 0.5 }), randomNormal([16, 8], 5, { std: 0.5 })] as [tf.Tensor2D, tf.Tensor2D]
    const z2c = tf.tidy(() => tf.add(z1, z2)) as tf.Tensor2D
    const ref = ntXentMetricsRef(matrix(z1), matrix(z2c), { temperature: 1, normalize: false })
    const m = ntXentMetrics(z1, z2c, { temperature: 1, normalize: false })
    expect(m.accuracy).toBeAllclose(ref.accuracy, { rtol: 1e-6 })
    expect(m.entropy).toBeAllclose(ref.entropy, { rtol: 1e-5 })
    const [one1, one2] = [tf.slice(z1, [0, 0], [1, 8]), tf.slice(z2, [0, 0], [1, 8])]
    const single = ntXentMetrics(one1, one2)
    expect(single.accuracy.dataSync()[0]).toBe(1)
    expect(Math.abs(single.entropy.dataSync()[0]!)).toBeLessThan(1e-6)
    tf.dispose([z1, z2, z2c, m, one1, one2, single])
  })

  it("validates like ntXent", () => {
    const [a, b] = [tf.zeros([4, 8]), tf.zeros([4, 6])]
    expect(() => ntXentMetrics(a, b)).toThrow(/^z2: shape \[4, 6\] must equal z1 shape \[4, 8\]/)
    expect(() => ntXentMetrics(a, a, { temperature: -0.5 })).toThrow(/^options\.temperature: must be a finite number > 0, got -0\.5/)
    tf.dispose([a, b])
  })
})
