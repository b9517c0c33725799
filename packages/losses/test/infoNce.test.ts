import * as tf from "@tensorflow/tfjs-core"
import { asVariable, randomNormal, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { infoNce, InvalidArgumentError, ntXent } from "../src/index.ts"
import { finiteDifference, infoNceRef, type Matrix, toMatrix } from "./reference.ts"

const matrix = (t: tf.Tensor): Matrix => toMatrix(t.dataSync(), t.shape[0]!, t.shape[1]!)
/** Reads a scalar and disposes it. */
/** 1e-5 of the largest entry: the scale of a gradient, for its near-zero entries. */
const atol = (fd: Matrix): number => 1e-5 * Math.max(...fd.flat().map(Math.abs))

/** Reads a scalar and disposes it. */
const scalar = (t: tf.Tensor): number => {
  const v = t.dataSync()[0]!
  t.dispose()
  return v
}

describe("infoNce", () => {
  useLeakCheck()

  it("equals the hand-derived value with one orthogonal negative", () => {
    // q = k = e1, negative e2, τ = 1: ℓ = −log(e / (e + 1)) = log(1 + e⁻¹).
    const q = tf.tensor2d([[1, 0]])
    const n = tf.tensor2d([[0, 3]])
    expect(scalar(infoNce(q, q, n, { temperature: 1 }))).toBeCloseTo(Math.log(1 + Math.exp(-1)), 6)
    tf.dispose([q, n])
  })

  for (const [normalize, temperature] of [
    [true, 0.07],
    [true, 0.5],
    [false, 1]
  ] as const) {
    it(`equals the float64 reference, gradients equal finite differences (normalize=${normalize}, τ=${temperature})`, () => {
      const std = normalize ? 1 : 0.4
      const [q, k, n] = [randomNormal([5, 8], 1, { std }), randomNormal([5, 8], 2, { std }), randomNormal([9, 8], 3, { std })] as [
        tf.Tensor2D,
        tf.Tensor2D,
        tf.Tensor2D
      ]
      const options = { temperature, normalize }
      const [mq, mk, mn] = [matrix(q), matrix(k), matrix(n)]
      const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) =>
        infoNce(a as tf.Tensor2D, b as tf.Tensor2D, n, options)
      )([q, k])
      expect(value).toBeAllclose(infoNceRef(mq, mk, mn, options), { rtol: 1e-5, atol: 1e-6 })
      const fdq = finiteDifference((m) => infoNceRef(m, mk, mn, options), mq)
      const fdk = finiteDifference((m) => infoNceRef(mq, m, mn, options), mk)
      expect(grads[0]!).toBeAllclose(fdq, { rtol: 1e-4, atol: atol(fdq) })
      expect(grads[1]!).toBeAllclose(fdk, { rtol: 1e-4, atol: atol(fdk) })
      tf.dispose([q, k, n, value, grads])
    })
  }

  it("gives the queue no gradient", () => {
    const [q, k, n] = [asVariable(randomNormal([3, 4], 4)), asVariable(randomNormal([3, 4], 5)), asVariable(randomNormal([6, 4], 6))]
    const { value, grads } = tf.variableGrads(() => infoNce(q as tf.Tensor2D, k as tf.Tensor2D, n as tf.Tensor2D), [q, k, n])
    expect(Object.keys(grads).toSorted()).toEqual([q.name, k.name].toSorted())
    tf.dispose([q, k, n, value, grads])
  })

  it("differs from ntXent with the same queue: no in-batch negatives, one direction", () => {
    // With a single pair and no in-batch negatives the two coincide (per direction): N = 1.
    const [q, k, n] = [randomNormal([1, 6], 7), randomNormal([1, 6], 8), randomNormal([4, 6], 9)] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D]
    const a = scalar(infoNce(q, k, n, { temperature: 0.2 }))
    const b = scalar(infoNce(k, q, n, { temperature: 0.2 }))
    const nt = scalar(ntXent(q, k, { temperature: 0.2, negatives: n }))
    expect((a + b) / 2).toBeAllclose(nt, { rtol: 1e-5 })
    tf.dispose([q, k, n])
  })

  it("stays finite at τ = 0.01 with 4096 negatives", () => {
    const [q, n] = [randomNormal([64, 128], 10), randomNormal([4096, 128], 11)] as [tf.Tensor2D, tf.Tensor2D]
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => infoNce(a as tf.Tensor2D, b as tf.Tensor2D, n, { temperature: 0.01 }))([q, q])
    expect(Number.isFinite(scalar(value))).toBe(true)
    for (const g of grads) expect(g.dataSync().every(Number.isFinite)).toBe(true)
    tf.dispose([q, n, value, grads])
  })

  it("scales its gradients with the upstream gradient dy", () => {
    const [q, k, n] = [randomNormal([3, 4], 12), randomNormal([3, 4], 13), randomNormal([5, 4], 14)] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D]
    const f = (a: tf.Tensor, b: tf.Tensor) => infoNce(a, b, n, { temperature: 0.3 })
    const dy = tf.scalar(4)
    const plain = tf.grads(f)([q, k])
    const scaled = tf.grads(f)([q, k], dy)
    for (const i of [0, 1]) {
      const expected = tf.mul(plain[i]!, 4)
      expect(scaled[i]!).toBeAllclose(expected, { rtol: 1e-5, atol: 1e-6 })
      expected.dispose()
    }
    tf.dispose([q, k, n, dy, plain, scaled])
  })

  it("names the bad argument", () => {
    const [a, b, c] = [tf.zeros([4, 8]), tf.zeros([4, 6]), tf.zeros([7, 6])] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D]
    expect(() => infoNce(a, b, c)).toThrow(/^positiveKey: shape \[4, 6\] must equal query shape \[4, 8\]/)
    expect(() => infoNce(a, a, c)).toThrow(/^negatives: rows must have the same width as query: negatives \[7, 6\] vs query \[4, 8\]/)
    expect(() => infoNce(a, a, a, { temperature: -1 })).toThrow(InvalidArgumentError)
    expect(() => infoNce(a, a, a, { temperature: -1 })).toThrow(/^options\.temperature: must be a finite number > 0, got -1/)
    expect(() => infoNce(a, a, undefined as never)).toThrow(/^negatives: expected a tf\.Tensor of shape \[K, D\], got undefined/)
    const [empty, noQueue, rank3, ints] = [tf.zeros([0, 8]), tf.zeros([0, 8]), tf.zeros([2, 4, 8]), tf.zeros([4, 8], "int32")]
    expect(() => infoNce(empty, empty, a)).toThrow(/^query: empty batch: shape \[0, 8\]/)
    expect(() => infoNce(a, a, noQueue)).toThrow(/^negatives: needs at least one row \(InfoNCE has no in-batch negatives\), got shape \[0, 8\]/)
    expect(() => infoNce(rank3, a, a)).toThrow(/^query: expected rank 2 \[N, D\], got rank 3 with shape \[2, 4, 8\]/)
    expect(() => infoNce(a, ints, a)).toThrow(/^positiveKey: expected dtype float32, got int32/)
    expect(() => infoNce(a, a, a, { temp: 1 } as never)).toThrow(/^options\.temp: unknown option; known options are "temperature", "normalize"/)
    tf.dispose([a, b, c, empty, noQueue, rank3, ints])
  })
})
