import * as tf from "@tensorflow/tfjs-core"
import { asVariable, randomNormal, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { distillationLoss } from "../src/index.ts"
import { distillationRef, finiteDifference, type Matrix, toMatrix } from "./reference.ts"

const matrix = (t: tf.Tensor): Matrix => toMatrix(t.dataSync(), t.shape[0]!, t.shape[1]!)
/** Reads a scalar and disposes it. */
const scalar = (t: tf.Tensor): number => {
  const v = t.dataSync()[0]!
  t.dispose()
  return v
}

describe("distillationLoss", () => {
  useLeakCheck()

  it("equals the hand-derived value: uniform teacher, two classes", () => {
    // Teacher [0, 0] → p = (½, ½); student [ln 3, 0] → softmax (¾, ¼); CE = −½(ln ¾ + ln ¼) = ln 4 − ½ ln 3.
    const s = tf.tensor2d([[Math.log(3), 0]])
    const t = tf.tensor2d([[0, 0]])
    expect(scalar(distillationLoss(s, t))).toBeCloseTo(Math.log(4) - 0.5 * Math.log(3), 6)
    tf.dispose([s, t])
  })

  it("is the teacher's entropy, its minimum, when the student equals the teacher; gradient 0", () => {
    const t = randomNormal([4, 5], 1, { std: 2 }) as tf.Tensor2D
    const { value, grad } = tf.valueAndGrad((s: tf.Tensor) => distillationLoss(s as tf.Tensor2D, t, { temperature: 2 }))(t)
    const entropy = tf.tidy(() => {
      const p = tf.softmax(tf.div(t, 2))
      return tf.neg(tf.mean(tf.sum(tf.mul(p, tf.log(p)), 1)))
    })
    expect(value).toBeAllclose(entropy, { rtol: 1e-5 })
    expect(grad).toBeAllclose(new Float32Array(20), { atol: 1e-7 })
    tf.dispose([t, value, grad, entropy])
  })

  for (const [temperature, scaleByTemperatureSquared] of [
    [1, false],
    [4, true],
    [4, false],
    [0.5, true]
  ] as const) {
    it(`equals the float64 reference and its finite-difference gradient (T=${temperature}, T²=${scaleByTemperatureSquared})`, () => {
      const [s, t] = [randomNormal([6, 10], 2, { std: 3 }), randomNormal([6, 10], 3, { std: 3 })] as [tf.Tensor2D, tf.Tensor2D]
      const options = { temperature, scaleByTemperatureSquared }
      const [ms, mt] = [matrix(s), matrix(t)]
      const { value, grad } = tf.valueAndGrad((a: tf.Tensor) => distillationLoss(a as tf.Tensor2D, t, options))(s)
      expect(value).toBeAllclose(distillationRef(ms, mt, options), { rtol: 1e-5, atol: 1e-6 })
      const fd = finiteDifference((m) => distillationRef(m, mt, options), ms)
      expect(grad).toBeAllclose(fd, { rtol: 1e-4, atol: 1e-5 * Math.max(...fd.flat().map(Math.abs)) })
      tf.dispose([s, t, value, grad])
    })
  }

  it("scales by exactly T² when asked", () => {
    const [s, t] = [randomNormal([3, 4], 4), randomNormal([3, 4], 5)] as [tf.Tensor2D, tf.Tensor2D]
    const plain = scalar(distillationLoss(s, t, { temperature: 3 }))
    const scaled = scalar(distillationLoss(s, t, { temperature: 3, scaleByTemperatureSquared: true }))
    expect(scaled).toBeAllclose(9 * plain, { rtol: 1e-6 })
    tf.dispose([s, t])
  })

  it("gives the teacher no gradient", () => {
    const [s, t] = [asVariable(randomNormal([3, 4], 6)), asVariable(randomNormal([3, 4], 7))]
    const { value, grads } = tf.variableGrads(() => distillationLoss(s as tf.Tensor2D, t as tf.Tensor2D), [s, t])
    expect(Object.keys(grads)).toEqual([s.name])
    tf.dispose([s, t, value, grads])
  })

  it("stays finite with extreme logits", () => {
    const s = tf.tensor2d([[1e4, -1e4, 0], [-5e3, 5e3, 0]])
    const t = tf.tensor2d([[-1e4, 1e4, 0], [0, 0, 1e4]])
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => distillationLoss(x as tf.Tensor2D, t, { temperature: 0.5 }))(s)
    expect(Number.isFinite(scalar(value))).toBe(true)
    expect(grad.dataSync().every(Number.isFinite)).toBe(true)
    tf.dispose([s, t, value, grad])
  })

  it("scales its gradient with the upstream gradient dy", () => {
    const [s, t] = [randomNormal([3, 4], 8), randomNormal([3, 4], 9)] as [tf.Tensor2D, tf.Tensor2D]
    const f = (x: tf.Tensor) => distillationLoss(x, t, { temperature: 2, scaleByTemperatureSquared: true })
    const dy = tf.scalar(0.5)
    const plain = tf.grad(f)(s)
    const scaled = tf.grad(f)(s, dy)
    const expected = tf.mul(plain, 0.5)
    expect(scaled).toBeAllclose(expected, { rtol: 1e-5, atol: 1e-6 })
    tf.dispose([s, t, dy, plain, scaled, expected])
  })

  it("names the bad argument", () => {
    const [a, b] = [tf.zeros([4, 10]), tf.zeros([4, 9])] as [tf.Tensor2D, tf.Tensor2D]
    expect(() => distillationLoss(a, b)).toThrow(/^teacherLogits: shape \[4, 9\] must equal studentLogits shape \[4, 10\]/)
    expect(() => distillationLoss(a, a, { temperature: 0 })).toThrow(/^options\.temperature: must be a finite number > 0, got 0/)
    expect(() => distillationLoss(a, a, { scaleByTemperatureSquared: "yes" as never })).toThrow(
      /^options\.scaleByTemperatureSquared: must be true or false, got "yes"/
    )
    const r1 = tf.zeros([4]) as unknown as tf.Tensor2D
    expect(() => distillationLoss(r1, a)).toThrow(/^studentLogits: expected rank 2 \[B, C\], got rank 1 with shape \[4\]/)
    const [empty, ints] = [tf.zeros([0, 10]), tf.zeros([4, 10], "int32")]
    expect(() => distillationLoss(empty, empty)).toThrow(/^studentLogits: empty batch: shape \[0, 10\]/)
    expect(() => distillationLoss(a, ints)).toThrow(/^teacherLogits: expected dtype float32, got int32/)
    tf.dispose([a, b, r1, empty, ints])
  })
})
