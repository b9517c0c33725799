/**
 * One distillation step of a student on a teacher's targets, as the training loop will take it: the
 * gradient reaches every trainable weight of the student and none of the teacher's, whose weights
 * (moving statistics included) are unchanged after the update; nothing leaks.
 */
import "@tensorflow/tfjs-core/dist/register_all_gradients.js"
import * as tf from "@tensorflow/tfjs-core"
import { onBackendWithKernel, randomUniform, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { distillLoss, distillMetrics, studentFrom, teacherTargets } from "../src/index.ts"

const teacherConfig = { depth: 18, stem: "cifar", inputShape: [8, 8, 3], baseWidth: 4, blocksPerGroup: [1, 1, 1, 1] } as const
// A narrower student: big-to-small distillation.
const studentConfig = { ...teacherConfig, baseWidth: 2 }
const snapshot = (weights: ReadonlyArray<{ read: () => tf.Tensor }>): Array<Array<number>> => weights.map((w) => Array.from(w.read().dataSync()))

describe("a student step", () => {
  useLeakCheck()

  for (const where of ["outside", "inside"] as const) {
    it(`teacher targets computed ${where} the gradient function: the student gets every gradient, the teacher none and stays unchanged`, async () => {
      // tfjs' own wasm backend has no Conv2DBackpropFilter: the step then runs on cpu (the test says where).
      const ran = await onBackendWithKernel("Conv2DBackpropFilter", () => {
        const teacher = studentFrom({ encoder: teacherConfig, numClasses: 3, seed: 1, name: "teacher" })
        const student = studentFrom({ encoder: studentConfig, numClasses: 3, seed: 2 })
        const images = randomUniform([6, 8, 8, 3], 5) as tf.Tensor4D
        const labels = [0, -1, 2, -1, -1, 1]
        const options = { temperature: 2, alpha: 0.5, labels, confidenceThreshold: 0, scaleByTemperatureSquared: true }
        const teacherBefore = snapshot(teacher.weights)
        const studentBefore = snapshot(student.trainableWeights)
        const outside = where === "outside" ? teacherTargets(teacher, images, { temperature: 2 }) : undefined
        const before = tf.memory().numTensors
        // No variable list: tfjs differentiates with respect to every trainable variable, the teacher's included.
        const { value, grads } = tf.variableGrads(() => {
          const targets = outside ?? teacherTargets(teacher, images, { temperature: 2, batchSize: 4 })
          return distillLoss(student.apply(images, { training: true }) as tf.Tensor2D, targets, options)
        })
        const studentNames = student.trainableWeights.map((w) => (w.read() as tf.Variable).name).toSorted()
        const teacherNames = new Set(teacher.weights.map((w) => (w.read() as tf.Variable).name))
        expect(Object.keys(grads).toSorted()).toEqual(studentNames)
        expect(Object.keys(grads).some((name) => teacherNames.has(name))).toBe(false)
        expect(Object.values(grads).every((g) => g.dataSync().every(Number.isFinite))).toBe(true)
        expect(Number.isFinite(value.dataSync()[0]!)).toBe(true)
        const optimizer = tf.train.sgd(0.1)
        optimizer.applyGradients(grads)
        optimizer.dispose()
        tf.dispose([value, ...Object.values(grads)])
        // Nothing left behind: the optimiser and the batch-norm statistics update variables in place.
        expect(tf.memory().numTensors).toBe(before)
        expect(snapshot(teacher.weights)).toEqual(teacherBefore)
        expect(snapshot(student.trainableWeights)).not.toEqual(studentBefore)
        const logits = student.predict(images) as tf.Tensor2D
        const targets = outside ?? teacherTargets(teacher, images, { temperature: 2 })
        const metrics = distillMetrics(logits, targets, options)
        expect({ images: metrics.images, kept: metrics.kept, labeled: metrics.labeled }).toEqual({ images: 6, kept: 6, labeled: 3 })
        tf.dispose([logits, targets, images])
        teacher.dispose()
        student.dispose()
      })
      expect(["cpu", "wasm"]).toContain(ran)
    })
  }
})
