/** Every bad input is refused with an InvalidArgumentError that names the argument and what it allows. */
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { useLeakCheck } from "@simclr/test-utils"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { distillLoss, distillMetrics, InvalidArgumentError, SimclrError, studentFrom, teacherTargets } from "../src/index.ts"

const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  return undefined
}

/** `f` throws an InvalidArgumentError for `argument` whose message starts with it and matches `message`. */
const expectInvalid = (f: () => unknown, argument: string, message: RegExp): void => {
  const error = thrown(f)
  expect(error).toBeInstanceOf(InvalidArgumentError)
  expect(SimclrError.isInstance(error)).toBe(true)
  const e = error as InvalidArgumentError
  expect({ argument: e.argument, prefix: e.message.startsWith(`${argument}: `) }).toEqual({ argument, prefix: true })
  expect(e.message.slice(argument.length + 2)).toMatch(message)
}

/** A call of `f` with any arguments, for expectInvalid. */
const caller = (f: (s: tf.Tensor2D, t: tf.Tensor2D, o: never) => unknown) => (s: unknown, t: unknown, o: unknown) => () => f(s as tf.Tensor2D, t as tf.Tensor2D, o as never)

let student: tf.Tensor2D
let teacher: tf.Tensor2D

beforeAll(() => {
  student = tf.zeros([4, 3])
  teacher = tf.fill([4, 3], 1 / 3)
})

afterAll(() => tf.dispose([student, teacher]))

describe("distillLoss and distillMetrics", () => {
  useLeakCheck()

  for (const [name, f] of [["distillLoss", distillLoss], ["distillMetrics", distillMetrics]] as const) {
    it(`${name}: class counts, shapes, τ, α, threshold, labels, options`, () => {
      const call = caller(f)
      const before = tf.memory().numTensors
      const t5 = tf.fill([4, 5], 0.2)
      const t3rows = tf.fill([3, 3], 1 / 3)
      const rank1 = tf.zeros([4])
      const ints = tf.zeros([4, 3], "int32")
      const empty = tf.zeros([0, 3])
      const count = tf.memory().numTensors
      expectInvalid(call(student, t5, { temperature: 1 }), "teacherProbs", /^has 5 classes but studentLogits has 3: teacher and student must predict the same classes \(shapes \[4, 5\] and \[4, 3\]\)$/)
      expectInvalid(call(student, t3rows, { temperature: 1 }), "teacherProbs", /^has 3 rows but studentLogits has 4: one row per image, in the same order/)
      expectInvalid(call(rank1, teacher, { temperature: 1 }), "studentLogits", /^expected rank 2 \[B, C\] \(student logits\), got rank 1 with shape \[4\]$/)
      expectInvalid(call(student, ints, { temperature: 1 }), "teacherProbs", /^expected dtype float32, got int32/)
      expectInvalid(call(empty, teacher, { temperature: 1 }), "studentLogits", /^empty batch: shape \[0, 3\]$/)
      expectInvalid(call([[1, 2, 3]], teacher, { temperature: 1 }), "studentLogits", /^expected a tf\.Tensor of shape \[B, C\] \(student logits\), got \[\[1,2,3\]\]$/)
      for (const tau of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "1"]) {
        expectInvalid(call(student, teacher, { temperature: tau }), "options.temperature", /^must be a finite number > 0, got /)
      }
      expectInvalid(call(student, teacher, {}), "options.temperature", /^is required: the τ the teacher targets were made with, a finite number > 0$/)
      expectInvalid(call(student, teacher, undefined), "options", /^is required: \{ temperature, alpha\?, labels\?, confidenceThreshold\?, scaleByTemperatureSquared\? \}$/)
      for (const alpha of [-0.1, 1.5, Number.NaN]) {
        expectInvalid(call(student, teacher, { temperature: 1, alpha, labels: [0, 1, 2, -1] }), "options.alpha", /^must be a number in \[0, 1\], got /)
      }
      for (const threshold of [-0.01, 1.01, Number.NaN]) {
        expectInvalid(call(student, teacher, { temperature: 1, confidenceThreshold: threshold }), "options.confidenceThreshold", /^must be a number in \[0, 1\], got /)
      }
      expectInvalid(call(student, teacher, { temperature: 1, alpha: 0.5 }), "options.labels", /^is required when options\.alpha > 0 \(got alpha 0\.5\): one class index per image, −1 for an unlabeled one$/)
      expectInvalid(call(student, teacher, { temperature: 1, labels: [0, 1, 2] }), "options.labels", /^expected one label per image: 4 labels, got 3$/)
      expectInvalid(call(student, teacher, { temperature: 1, labels: [0, 1, 3, -1] }), "options.labels", /^must be integers in \[-1, 2\] \(−1 = unlabeled\), got 3 at index 2$/)
      expectInvalid(call(student, teacher, { temperature: 1, labels: [0, 1, 0.5, -1] }), "options.labels", /^must be integers in \[-1, 2\] \(−1 = unlabeled\), got 0\.5 at index 2$/)
      expectInvalid(call(student, teacher, { temperature: 1, labels: [0, -2, 1, 1] }), "options.labels", /got -2 at index 1$/)
      expectInvalid(call(student, teacher, { temperature: 1, labels: new Float32Array(4) }), "options.labels", /^expected an Int32Array or number\[\] with one class index per image/)
      expectInvalid(call(student, teacher, { temperature: 1, scaleByTemperatureSquared: 1 }), "options.scaleByTemperatureSquared", /^must be true or false, got 1$/)
      expectInvalid(call(student, teacher, { temperature: 1, treshold: 0.5 }), "options.treshold", /^unknown option; known options are "temperature", "alpha", "labels", "confidenceThreshold", "scaleByTemperatureSquared"$/)
      // Refused before anything is allocated.
      expect(tf.memory().numTensors).toBe(count)
      tf.dispose([t5, t3rows, rank1, ints, empty])
      expect(tf.memory().numTensors).toBe(before)
    })
  }
})

describe("teacherTargets", () => {
  useLeakCheck()

  it("teacher, images, τ, batchSize, options", () => {
    const model = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [2, 2, 3] }), tfl.layers.dense({ units: 4 })] })
    const images = tf.zeros([3, 2, 2, 3]) as tf.Tensor4D
    const count = tf.memory().numTensors
    expectInvalid(() => teacherTargets({} as never, images, { temperature: 1 }), "teacher", /^expected a tf\.LayersModel \(images → logits \[B, C\]\), got \{\}$/)
    const features = tfl.sequential({ layers: [tfl.layers.conv2d({ inputShape: [2, 2, 3], filters: 2, kernelSize: 1 })] })
    expectInvalid(() => teacherTargets(features, images, { temperature: 1 }), "teacher", /^must output logits \[B, C\], got an output of shape \[-1, 2, 2, 2\] \(−1: any size\)$/)
    features.dispose()
    const wrongSize = tf.zeros([3, 4, 4, 3]) as tf.Tensor4D
    expectInvalid(() => teacherTargets(model, wrongSize, { temperature: 1 }), "images", /^shape \[3, 4, 4, 3\] does not fit the teacher's input \[-1, 2, 2, 3\] \(−1: any size\)$/)
    wrongSize.dispose()
    const flat = tf.zeros([3, 12])
    expectInvalid(() => teacherTargets(model, flat as never, { temperature: 1 }), "images", /^expected rank 4 NHWC images \[B, H, W, C\], got rank 2/)
    flat.dispose()
    expectInvalid(() => teacherTargets(model, images, { temperature: 0 }), "options.temperature", /^must be a finite number > 0, got 0$/)
    expectInvalid(() => teacherTargets(model, images, {} as never), "options.temperature", /^is required: a finite number > 0 \(the paper's setting is 1\); pass the same value to distillLoss$/)
    expectInvalid(() => teacherTargets(model, images, undefined as never), "options", /^is required: \{ temperature, batchSize\? \}$/)
    for (const batchSize of [0, 2.5, -1]) {
      expectInvalid(() => teacherTargets(model, images, { temperature: 1, batchSize }), "options.batchSize", /^must be an integer in \[1, 9007199254740991\], got /)
    }
    expectInvalid(() => teacherTargets(model, images, { temperature: 1, training: true } as never), "options.training", /^unknown option; known options are "temperature", "batchSize"$/)
    expect(tf.memory().numTensors).toBe(count)
    images.dispose()
    model.dispose()
  })
})

describe("studentFrom", () => {
  useLeakCheck()

  it("encoder, numClasses, seed, name, options", () => {
    const count = tf.memory().numTensors
    const tiny = { depth: 18, stem: "cifar", inputShape: [8, 8, 3], baseWidth: 2, blocksPerGroup: [1, 1, 1, 1] } as const
    expectInvalid(() => studentFrom(undefined as never), "options", /^is required: \{ encoder, numClasses, pretrained\?, seed\?, name\? \}$/)
    expectInvalid(() => studentFrom({ numClasses: 3 } as never), "options.encoder", /^is required: an @simclr\/encoders resnet config such as \{ depth: 18 \}, got undefined$/)
    expectInvalid(() => studentFrom({ encoder: { depth: 19 }, numClasses: 3 } as never), "options.encoder.depth", /^must be one of 18, 34, 50, 101, 152, 200; got 19$/)
    expectInvalid(() => studentFrom({ encoder: { ...tiny, widthMultiplier: 0.5 }, numClasses: 3 }), "options.encoder.widthMultiplier", /^must be an integer in \[1, 64\], got 0\.5$/)
    expectInvalid(() => studentFrom({ encoder: tiny } as never), "options.numClasses", /^is required: the number of classes, an integer ≥ 1$/)
    expectInvalid(() => studentFrom({ encoder: tiny, numClasses: 0 }), "options.numClasses", /^must be an integer in \[1, 16777216\], got 0$/)
    expectInvalid(() => studentFrom({ encoder: tiny, numClasses: 3, seed: -1 }), "options.seed", /^must be an integer in \[0, 9007199254740991\], got -1$/)
    expectInvalid(() => studentFrom({ encoder: tiny, numClasses: 3, name: "" }), "options.name", /^must be a non-empty string, got ""$/)
    expectInvalid(() => studentFrom({ encoder: tiny, numClasses: 3, pretrained: {} as never }), "options.pretrained", /^expected a tf\.LayersModel \(a pre-trained encoder\), got \{\}$/)
    expectInvalid(() => studentFrom({ encoder: tiny, numClasses: 3, teacher: 1 } as never), "options.teacher", /^unknown option; known options are "encoder", "numClasses", "pretrained", "seed", "name"$/)
    // A refused build frees what it made.
    expect(tf.memory().numTensors).toBe(count)
  })
})
