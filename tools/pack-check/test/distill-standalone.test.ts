/**
 * @simclr/distill installed alone next to tfjs-core, tfjs-layers and the cpu backend (it brings
 * @simclr/core, @simclr/encoders and @simclr/heads along): teacher targets of a dense teacher, the loss
 * with α, labels and a threshold, the metrics, a student from a pre-trained encoder and one training
 * step that reaches only the student; every value is checked against one computed here.
 */
import { expect, it } from "vitest"
import { describeStandalone } from "./install.ts"

const softmax = (row: ReadonlyArray<number>, tau: number): Array<number> => {
  const z = row.map((v) => v / tau)
  const max = Math.max(...z)
  const e = z.map((v) => Math.exp(v - max))
  const sum = e.reduce((a, b) => a + b, 0)
  return e.map((v) => v / sum)
}

const argmax = (row: ReadonlyArray<number>): number => row.indexOf(Math.max(...row))

describeStandalone(
  "@simclr/distill",
  (installed) => {
    it("teacher targets, loss, metrics, a student and its step work with tfjs-core, tfjs-layers and the cpu backend only", () => {
      const out = installed().runScript(`import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import "@tensorflow/tfjs-backend-cpu"
import { resnet } from "@simclr/encoders"
import { assertSameClasses, distillLoss, distillMetrics, InvalidArgumentError, studentFrom, teacherTargets } from "@simclr/distill"
await tf.setBackend("cpu")
const start = tf.memory().numTensors

// A dense teacher on 1×1×2 images with kernel [[1, 0, -1], [0, 2, 1]] and bias 0.
const teacher = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [1, 1, 2] }), tfl.layers.dense({ units: 3 })] })
tf.tidy(() => teacher.layers[1].setWeights([tf.tensor2d([[1, 0, -1], [0, 2, 1]]), tf.zeros([3])]))
const images = tf.tensor4d([1, 0, 0, 1, 2, 2], [3, 1, 1, 2])
const targets = teacherTargets(teacher, images, { temperature: 2, batchSize: 2 })

// The loss and metrics on fixed student logits.
const student = tf.tensor2d([[0, 1, 2], [2, 0, 0], [0, 0, 3]])
const options = { temperature: 2, alpha: 0.5, labels: [1, -1, 2], confidenceThreshold: 0.55 }
const loss = distillLoss(student, targets, options)
const metrics = distillMetrics(student, targets, options)
let refused = ""
try { distillLoss(student, targets, { temperature: 2, alpha: 1.5, labels: [1, -1, 2] }) } catch (e) { refused = e instanceof InvalidArgumentError ? e.argument : String(e) }

// A student from a pre-trained encoder: its encoder weights are the encoder's; one step reaches only it.
const config = { depth: 18, stem: "cifar", inputShape: [4, 4, 3], baseWidth: 2, blocksPerGroup: [1, 1, 1, 1] }
const encoder = resnet({ ...config, seed: 5 })
const s = studentFrom({ encoder: config, numClasses: 3, pretrained: encoder, seed: 1 })
const copied = encoder.weights.every((w) => {
  const mine = s.weights.find((v) => v.originalName === w.originalName)
  return mine !== undefined && tf.tidy(() => tf.all(tf.equal(mine.read(), w.read())).dataSync()[0] === 1)
})
const bigTeacher = studentFrom({ encoder: config, numClasses: 3, seed: 2, name: "teacher" })
const x = tf.randomUniform([4, 4, 4, 3], 0, 1, "float32", 3)
const teacherBefore = bigTeacher.weights.map((w) => Array.from(w.read().dataSync()))
const { value, grads } = tf.variableGrads(() => distillLoss(s.apply(x, { training: true }), teacherTargets(bigTeacher, x, { temperature: 1 }), { temperature: 1 }))
const studentNames = s.trainableWeights.map((w) => w.read().name).sort()
const result = {
  targets: targets.arraySync(),
  loss: loss.dataSync()[0],
  metrics,
  refused,
  classes: assertSameClasses(bigTeacher, s),
  copied,
  onlyStudent: JSON.stringify(Object.keys(grads).sort()) === JSON.stringify(studentNames),
  teacherUnchanged: JSON.stringify(bigTeacher.weights.map((w) => Array.from(w.read().dataSync()))) === JSON.stringify(teacherBefore),
  stepFinite: Number.isFinite(value.dataSync()[0])
}
tf.dispose([targets, images, student, loss, x, value, ...Object.values(grads)])
for (const m of [teacher, encoder, s, bigTeacher]) m.dispose()
console.log(JSON.stringify({ ...result, leaked: tf.memory().numTensors - start }))
`)
      const r = JSON.parse(out.trim().split("\n").at(-1)!) as { targets: Array<Array<number>>; loss: number } & Record<string, unknown>
      // Teacher logits x·K: [1, 0, −1], [0, 2, 1], [2, 4, 0]; targets softmax(logits / 2).
      const logits = [[1, 0, -1], [0, 2, 1], [2, 4, 0]]
      const p = logits.map((row) => softmax(row, 2))
      r.targets.flat().forEach((v, k) => expect(Math.abs(v - p.flat()[k]!)).toBeLessThan(1e-6))
      // Kept: max p ≥ 0.55, row 2 only (rows 0 and 1 have max ≈ 0.506, row 2 ≈ 0.665).
      const keptRows = p.map((row) => Math.max(...row) >= 0.55)
      expect(keptRows).toEqual([false, false, true])
      const s = [[0, 1, 2], [2, 0, 0], [0, 0, 3]]
      const kept = keptRows.filter(Boolean).length
      let distill = 0
      s.forEach((row, i) => {
        if (!keptRows[i]) return
        const q = softmax(row, 2)
        distill -= p[i]!.reduce((a, pv, y) => a + pv * Math.log(q[y]!), 0) / kept
      })
      const labels = [1, -1, 2]
      const ce = -(Math.log(softmax(s[0]!, 1)[1]!) + Math.log(softmax(s[2]!, 1)[2]!)) / 2
      expect(Math.abs(r.loss - (0.5 * distill + 0.5 * ce))).toBeLessThan(1e-5)
      const agreement = s.filter((row, i) => argmax(row) === argmax(p[i]!)).length / 3
      const correct = labels.filter((y, i) => y >= 0 && argmax(s[i]!) === y).length
      const { targets: _t, loss: _l, ...rest } = r
      expect(rest).toEqual({
        metrics: { images: 3, kept, dropped: 3 - kept, agreement, labeled: 2, labeledAccuracy: correct / 2 },
        refused: "options.alpha",
        classes: 3,
        copied: true,
        onlyStudent: true,
        teacherUnchanged: true,
        stepFinite: true,
        leaked: 0
      })
    })
  },
  ["@tensorflow/tfjs-core", "@tensorflow/tfjs-layers"],
  ["@simclr/core", "@simclr/encoders", "@simclr/heads"]
)
