/**
 * distillLoss and its gradient against the float64 reference of test/reference.ts, over α ∈ {0, 0.5, 1},
 * confidence thresholds, and τ ≠ 1 with and without τ²; the empty cases (every image dropped, no image
 * labeled) give a finite 0 with a zero gradient; and the first term equals @simclr/losses'
 * distillationLoss of the teacher's logits.
 */
import * as tf from "@tensorflow/tfjs-core"
import { distillationLoss } from "@simclr/losses"
import { expectAllclose, normalArray, uniformArray, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { distillLoss, type DistillLossOptions } from "../src/index.ts"
import { distillGrad64, distillLoss64, finiteDifferences64, gradBound, type LossOptions64, lossBound, type Matrix, softmax64, U } from "./reference.ts"

const B = 8
const C = 5

/** Rows of a float32 array, as float64 numbers (the exact values the tensor holds). */
const rows = (values: Float32Array, cols: number): Matrix => Array.from({ length: values.length / cols }, (_, i) => Array.from(values.subarray(i * cols, (i + 1) * cols)))

const studentValues = normalArray(B * C, 11, { std: 3 })
// Teacher probabilities: softmax of logits whose scale differs per row, so some rows are confident
// (max > 0.9) and some are not; rounded to float32 as a tensor would hold them.
const teacherLogits = normalArray(B * C, 12)
const rowScale = uniformArray(B, 13, { min: 0.2, max: 6 })
const teacherValues = Float32Array.from(rows(teacherLogits, C).flatMap((row, i) => softmax64(row.map((v) => v * rowScale[i]!), 1)))
const s64 = rows(studentValues, C)
const p64 = rows(teacherValues, C)
const labels = [2, -1, 0, -1, -1, 4, 1, -1]

/** Value and gradient of distillLoss w.r.t. the student logits, read back; nothing left allocated. */
const lossAndGrad = (s: Float32Array, p: Float32Array, options: DistillLossOptions): { value: number; grad: Float32Array } => {
  const student = tf.tensor2d(s, [B, C])
  const teacher = tf.tensor2d(p, [B, C])
  const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => distillLoss(x as tf.Tensor2D, teacher, options))(student)
  const out = { value: value.dataSync()[0]!, grad: grad.dataSync() as Float32Array }
  tf.dispose([student, teacher, value, grad])
  return out
}

describe("distillLoss against float64", () => {
  useLeakCheck()

  const maxima = p64.map((row) => Math.max(...row))
  const temperatures: Array<[number, boolean]> = [[1, false], [2.5, false], [2.5, true], [0.7, true]]
  const thresholds = [0, 0.5, 0.8]

  it("the test data covers confident and unconfident rows, away from the thresholds", () => {
    for (const t of thresholds.slice(1)) {
      expect(maxima.some((m) => m >= t)).toBe(true)
      expect(maxima.some((m) => m < t)).toBe(true)
      // No maximum within float32 reach of a threshold, so keep/drop cannot depend on rounding.
      expect(Math.min(...maxima.map((m) => Math.abs(m - t)))).toBeGreaterThan(1e-4)
    }
  })

  for (const alpha of [0, 0.5, 1]) {
    for (const threshold of thresholds) {
      for (const [temperature, squared] of temperatures) {
        it(`α ${alpha}, threshold ${threshold}, τ ${temperature}${squared ? " × τ²" : ""}`, () => {
          const options: LossOptions64 = { temperature, alpha, labels, confidenceThreshold: threshold, scaleByTemperatureSquared: squared }
          const { value, grad } = lossAndGrad(studentValues, teacherValues, options)
          const expected = distillLoss64(s64, p64, options)
          expect(Math.abs(value - expected)).toBeLessThanOrEqual(lossBound(s64, p64, options))
          // The analytic float64 gradient agrees with central differences of the float64 loss (h = 1e-5:
          // truncation error ~h²·|f'''| ≈ 1e-9 here), so the reference itself is right.
          const analytic = distillGrad64(s64, p64, options)
          expectAllclose(analytic.flat(), finiteDifferences64((s) => distillLoss64(s, p64, options), s64).flat(), { rtol: 1e-6, atol: 1e-8 })
          const bound = gradBound(s64, p64, options).flat()
          const worst = Math.max(...analytic.flat().map((g, k) => Math.abs(grad[k]! - g) - bound[k]!))
          expect(worst).toBeLessThanOrEqual(0)
        })
      }
    }
  }

  it("the bounds are tight enough to mean something: a few hundred ulps of the loss at most", () => {
    const options = { temperature: 2.5, alpha: 0.5, labels, confidenceThreshold: 0.5, scaleByTemperatureSquared: true }
    expect(lossBound(s64, p64, options) / distillLoss64(s64, p64, options)).toBeLessThan(500 * U)
  })
})

describe("empty terms give 0 with a zero gradient, never NaN", () => {
  useLeakCheck()
  const unlabeled = Array.from({ length: B }, () => -1)

  it("every image dropped (threshold 1, no row is certain), α = 0", () => {
    expect(Math.max(...p64.map((row) => Math.max(...row)))).toBeLessThan(1)
    const { value, grad } = lossAndGrad(studentValues, teacherValues, { temperature: 2, confidenceThreshold: 1 })
    expect(value).toBe(0)
    expect(Array.from(grad).every((g) => g === 0)).toBe(true)
  })

  it("no image labeled, α = 1", () => {
    const { value, grad } = lossAndGrad(studentValues, teacherValues, { temperature: 2, alpha: 1, labels: unlabeled })
    expect(value).toBe(0)
    expect(Array.from(grad).every((g) => g === 0)).toBe(true)
  })

  it("every image dropped and none labeled, α = 0.5", () => {
    const { value, grad } = lossAndGrad(studentValues, teacherValues, { temperature: 2, alpha: 0.5, labels: Int32Array.from(unlabeled), confidenceThreshold: 1 })
    expect(value).toBe(0)
    expect(Array.from(grad).every((g) => g === 0)).toBe(true)
  })

  it("every image dropped, some labeled, α = 0.5: the cross-entropy term alone", () => {
    const options = { temperature: 2, alpha: 0.5, labels, confidenceThreshold: 1 }
    const { value, grad } = lossAndGrad(studentValues, teacherValues, options)
    expect(Math.abs(value - distillLoss64(s64, p64, options))).toBeLessThanOrEqual(lossBound(s64, p64, options))
    const ceOnly = distillGrad64(s64, p64, options)
    // Rows without a label get exactly 0.
    const unlabeledRows = labels.flatMap((y, i) => (y < 0 ? Array.from(grad.subarray(i * C, (i + 1) * C)) : []))
    expect(unlabeledRows.length).toBe(4 * C)
    expect(unlabeledRows.every((g) => g === 0)).toBe(true)
    const bound = gradBound(s64, p64, options).flat()
    expect(Math.max(...ceOnly.flat().map((g, k) => Math.abs(grad[k]! - g) - bound[k]!))).toBeLessThanOrEqual(0)
  })

  it("dropped rows get exactly 0 gradient from the distillation term (α = 0)", () => {
    const { grad } = lossAndGrad(studentValues, teacherValues, { temperature: 2, confidenceThreshold: 0.8 })
    const dropped = p64.flatMap((row, i) => (Math.max(...row) < 0.8 ? [Array.from(grad.subarray(i * C, (i + 1) * C))] : []))
    const kept = p64.flatMap((row, i) => (Math.max(...row) >= 0.8 ? [Array.from(grad.subarray(i * C, (i + 1) * C))] : []))
    expect(dropped.length).toBeGreaterThan(0)
    expect(dropped.flat().every((g) => g === 0)).toBe(true)
    expect(kept.every((row) => row.some((g) => g !== 0))).toBe(true)
  })
})

describe("the same loss as @simclr/losses' distillationLoss on teacher logits", () => {
  useLeakCheck()

  for (const [temperature, squared] of [[1, false], [3, false], [3, true]] as Array<[number, boolean]>) {
    it(`τ ${temperature}${squared ? " × τ²" : ""}: value and gradient`, () => {
      const student = tf.tensor2d(studentValues, [B, C])
      const logits = tf.tensor2d(teacherLogits, [B, C])
      const probs = tf.tidy(() => tf.softmax(tf.div(logits, temperature)))
      const options = { temperature, scaleByTemperatureSquared: squared }
      const ours = tf.valueAndGrad((x: tf.Tensor) => distillLoss(x as tf.Tensor2D, probs as tf.Tensor2D, options))(student)
      const theirs = tf.valueAndGrad((x: tf.Tensor) => distillationLoss(x, logits, options))(student)
      // Both are float32 computations of one formula from the same softmax: a few ulps per term apart.
      expectAllclose(ours.value, theirs.value, { rtol: 64 * U, atol: 0 })
      expectAllclose(ours.grad, theirs.grad, { rtol: 64 * U, atol: 16 * U * Math.max(...Array.from(theirs.grad.dataSync()).map(Math.abs)) })
      tf.dispose([student, logits, probs, ours.value, ours.grad, theirs.value, theirs.grad])
    })
  }
})

describe("inside a training step", () => {
  useLeakCheck()

  it("called outside any gradient, it leaves only its result; under tf.variableGrads, only the value and gradient", () => {
    const initial = tf.tensor2d(studentValues, [B, C])
    const student = tf.variable(initial, true, "distill_test_logits")
    initial.dispose()
    const teacher = tf.tensor2d(teacherValues, [B, C])
    const before = tf.memory().numTensors
    const options = { temperature: 2, alpha: 0.5, labels, confidenceThreshold: 0.5, scaleByTemperatureSquared: true }
    const plain = distillLoss(student, teacher, options)
    expect(tf.memory().numTensors).toBe(before + 1)
    const { value, grads } = tf.variableGrads(() => distillLoss(student, teacher, options), [student])
    expect(tf.memory().numTensors).toBe(before + 3)
    expect(Object.keys(grads)).toEqual(["distill_test_logits"])
    expect(value.dataSync()[0]).toBe(plain.dataSync()[0])
    tf.dispose([plain, value, grads["distill_test_logits"]!, student, teacher])
  })
})
