/**
 * teacherTargets against a float64 forward pass of a small teacher (dense → batch norm → dropout) in
 * inference mode, for several batch sizes and temperatures; every intermediate freed.
 */
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { expectNoLeaks, normalArray, uniformArray, useLeakCheck } from "@simclr/test-utils"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { teacherTargets } from "../src/index.ts"
import { type Matrix, softmax64, U } from "./reference.ts"

const N = 7
const [H, W, CH] = [2, 3, 2]
const D = H * W * CH
const C = 4
const EPS = 1e-3

const kernel = normalArray(D * C, 21, { std: 0.8 })
const bias = normalArray(C, 22)
const mean = normalArray(C, 23)
const variance = uniformArray(C, 24, { min: 0.3, max: 2 })
const gamma = uniformArray(C, 25, { min: 0.5, max: 2 })
const beta = normalArray(C, 26)
const pixels = uniformArray(N * D, 27)

let teacher: tfl.LayersModel
let images: tf.Tensor4D

beforeAll(() => {
  teacher = tfl.sequential({
    name: "teacher",
    layers: [
      tfl.layers.flatten({ inputShape: [H, W, CH] }),
      tfl.layers.dense({ units: C, name: "logits" }),
      tfl.layers.batchNormalization({ epsilon: EPS, name: "bn" }),
      // Inference mode turns it off; in training mode it would zero half of the logits.
      tfl.layers.dropout({ rate: 0.5 })
    ]
  })
  tf.tidy(() => {
    teacher.getLayer("logits").setWeights([tf.tensor2d(kernel, [D, C]), tf.tensor1d(bias)])
    teacher.getLayer("bn").setWeights([tf.tensor1d(gamma), tf.tensor1d(beta), tf.tensor1d(mean), tf.tensor1d(variance)])
  })
  images = tf.tensor4d(pixels, [N, H, W, CH])
})

afterAll(() => {
  teacher.dispose()
  images.dispose()
})

/**
 * Float64 teacher on the float32 inputs and weights, with a per-logit rounding bound for the float32
 * computation: the dot product of D terms plus bias, (D + 2)·u·(Σ|x·w| + |b|), is scaled by γ/√(var + ε)
 * in batch norm, which adds ~6 ulps of |l − mean|·γ/σ + |β| for its own operations.
 */
const reference = (temperature: number): { probs: Matrix; bound: Matrix } => {
  const probs: Matrix = []
  const bound: Matrix = []
  for (let n = 0; n < N; n++) {
    const x = pixels.subarray(n * D, (n + 1) * D)
    const logits: Array<number> = []
    const errors: Array<number> = []
    for (let c = 0; c < C; c++) {
      let dot = bias[c]!
      let magnitude = Math.abs(bias[c]!)
      for (let d = 0; d < D; d++) {
        dot += x[d]! * kernel[d * C + c]!
        magnitude += Math.abs(x[d]! * kernel[d * C + c]!)
      }
      const scale = gamma[c]! / Math.sqrt(variance[c]! + EPS)
      const out = (dot - mean[c]!) * scale + beta[c]!
      logits.push(out)
      errors.push(scale * (D + 2) * U * magnitude + 6 * U * (Math.abs(dot - mean[c]!) * scale + Math.abs(beta[c]!) + Math.abs(mean[c]!) * scale))
    }
    const p = softmax64(logits, temperature)
    // A logit error δ moves softmax(l/τ)_y by at most p_y·2·max δ/τ (relative); the softmax itself adds ~(C + 6) ulps.
    const spread = (2 * Math.max(...errors)) / temperature
    probs.push(p)
    bound.push(p.map((v) => 2 * v * (spread + (C + 6) * U)))
  }
  return { probs, bound }
}

describe("teacherTargets", () => {
  useLeakCheck()

  for (const temperature of [1, 0.5, 3]) {
    for (const batchSize of [undefined, 1, 3, 7, 100]) {
      it(`τ ${temperature}, batchSize ${batchSize ?? "default"}: softmax(teacher logits / τ) in inference mode`, () => {
        const { probs, bound } = reference(temperature)
        const targets = teacherTargets(teacher, images, batchSize === undefined ? { temperature } : { temperature, batchSize })
        expect(targets.shape).toEqual([N, C])
        expect(targets.dtype).toBe("float32")
        const got = targets.dataSync()
        targets.dispose()
        const allowed = bound.flat()
        const excess = probs.flat().map((p, k) => Math.abs(got[k]! - p) - allowed[k]!)
        expect(Math.max(...excess)).toBeLessThanOrEqual(0)
      })
    }
  }

  it("leaves only its result, whatever the number of batches", () => {
    const count = tf.memory().numTensors
    const targets = teacherTargets(teacher, images, { temperature: 2, batchSize: 2 })
    expect(tf.memory().numTensors).toBe(count + 1)
    targets.dispose()
    expectNoLeaks(() => tf.dispose(teacherTargets(teacher, images, { temperature: 1, batchSize: 1 })))
  })

  it("does not move the teacher's batch-norm statistics (inference mode)", () => {
    const before = teacher.getLayer("bn").getWeights().map((w) => Array.from(w.dataSync()))
    tf.dispose(teacherTargets(teacher, images, { temperature: 1 }))
    const after = teacher.getLayer("bn").getWeights().map((w) => Array.from(w.dataSync()))
    expect(after).toEqual(before)
  })

  it("gives the images a zero gradient and the teacher's weights none", () => {
    const weights = teacher.trainableWeights.map((w) => w.read() as tf.Variable)
    const f = (x: tf.Tensor): tf.Scalar => tf.sum(tf.mul(teacherTargets(teacher, x as tf.Tensor4D, { temperature: 1 }), tf.range(0, C)))
    // Through the images: a gradient of zeros.
    const count = tf.memory().numTensors
    const [dx] = tf.grads((x: tf.Tensor) => f(x))([images])
    expect(tf.memory().numTensors).toBe(count + 1) // the gradient only
    expect(dx!.shape).toEqual(images.shape)
    expect(Array.from(dx!.dataSync()).every((g) => g === 0)).toBe(true)
    dx!.dispose()
    // Through the teacher's variables: no connection at all, so tfjs refuses to differentiate.
    // (tfjs throws after the forward pass and leaves its value behind: the tidy frees it.)
    tf.tidy(() => {
      expect(() => tf.variableGrads(() => f(images), weights)).toThrow(/Cannot find a connection between any variable and the result/)
    })
  })
})
