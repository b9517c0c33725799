/** distillMetrics against counts made here in plain JavaScript. */
import * as tf from "@tensorflow/tfjs-core"
import { normalArray, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { type DistillMetrics, distillMetrics } from "../src/index.ts"
import { softmax64 } from "./reference.ts"

const B = 12
const C = 4
const student = normalArray(B * C, 31, { std: 2 })
const teacherValues = Float32Array.from(Array.from({ length: B }, (_, i) => softmax64(Array.from(normalArray(C, 40 + i, { std: 1 + (i % 4) })), 1)).flat())
const argmax = (values: Float32Array, i: number): number => {
  let best = 0
  for (let c = 1; c < C; c++) if (values[i * C + c]! > values[i * C + best]!) best = c
  return best
}

/** The metrics, counted row by row. */
const reference = (threshold: number, labels?: ReadonlyArray<number>): DistillMetrics => {
  let kept = 0
  let agree = 0
  let labeled = 0
  let correct = 0
  for (let i = 0; i < B; i++) {
    if (Math.max(...teacherValues.subarray(i * C, (i + 1) * C)) >= threshold) kept++
    if (argmax(student, i) === argmax(teacherValues, i)) agree++
    const y = labels?.[i] ?? -1
    if (y >= 0) {
      labeled++
      if (argmax(student, i) === y) correct++
    }
  }
  const base = { images: B, kept, dropped: B - kept, agreement: agree / B, labeled }
  return labeled === 0 ? base : { ...base, labeledAccuracy: correct / labeled }
}

describe("distillMetrics", () => {
  useLeakCheck()
  const labels = [0, -1, 3, 2, -1, -1, 1, 0, -1, 2, -1, 3]

  for (const threshold of [0, 0.5, 0.8, 1]) {
    for (const withLabels of [false, true]) {
      it(`threshold ${threshold}, ${withLabels ? "some images labeled" : "no labels"}`, () => {
        const s = tf.tensor2d(student, [B, C])
        const t = tf.tensor2d(teacherValues, [B, C])
        const options = withLabels ? { temperature: 2, confidenceThreshold: threshold, labels } : { temperature: 2, confidenceThreshold: threshold }
        const metrics = distillMetrics(s, t, options)
        tf.dispose([s, t])
        expect(metrics).toEqual(reference(threshold, withLabels ? labels : undefined))
      })
    }
  }

  it("the test data is not trivial: some but not all rows agree, are kept at 0.5, are right", () => {
    const r = reference(0.5, labels)
    expect(r.kept).toBeGreaterThan(0)
    expect(r.kept).toBeLessThan(B)
    expect(r.agreement).toBeGreaterThan(0)
    expect(r.agreement).toBeLessThan(1)
    expect(r.labeledAccuracy).toBeGreaterThan(0)
    expect(r.labeledAccuracy).toBeLessThan(1)
  })

  it("labels that are all −1 give labeled 0 and no labeledAccuracy", () => {
    const s = tf.tensor2d(student, [B, C])
    const t = tf.tensor2d(teacherValues, [B, C])
    const metrics = distillMetrics(s, t, { temperature: 1, labels: new Int32Array(B).fill(-1) })
    tf.dispose([s, t])
    expect(metrics.labeled).toBe(0)
    expect("labeledAccuracy" in metrics).toBe(false)
  })
})
