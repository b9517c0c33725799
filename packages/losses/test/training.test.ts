/**
 * The loss inside a model, as users train it: gradients flowing through recorded ops before the loss
 * (which needs the op gradients that the union package @tensorflow/tfjs registers; tfjs-core alone
 * has none), tf.variableGrads, and an optimiser over a tfjs-layers model.
 */
import * as tf from "@tensorflow/tfjs-core"
import * as tfUnion from "@tensorflow/tfjs"
import { asVariable, randomNormal, requestedTestBackend, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { distillationLoss, infoNce, ntXent } from "../src/index.ts"
import { distillationRef, finiteDifference, infoNceRef, type Matrix, ntXentRef, toMatrix } from "./reference.ts"

const matrix = (t: tf.Tensor): Matrix => toMatrix(t.dataSync(), t.shape[0]!, t.shape[1]!)
const tanhLayer = (x: Matrix, w: Matrix): Matrix =>
  x.map((row) => w[0]!.map((_col, j) => Math.tanh(row.reduce((s, v, k) => s + v * w[k]![j]!, 0))))
const atol = (fd: Matrix): number => 1e-5 * Math.max(...fd.flat().map(Math.abs))
const mean = (xs: Array<number>): number => xs.reduce((a, b) => a + b, 0) / xs.length

/** Two views that share a 4-d signal and differ by 8 nuisance features drawn per view. */
const twoViews = (seed: number) =>
  tf.tidy(() => {
    const signal = tf.randomNormal([32, 4], 0, 1, "float32", seed)
    const view = (s: number) => tf.concat([signal, tf.randomNormal([32, 8], 0, 1.5, "float32", s)], 1)
    return [view(seed + 1), view(seed + 2)] as const
  })

describe("losses inside a model", () => {
  useLeakCheck()

  it("keeps the requested backend when the union package is loaded", () => {
    expect(tfUnion.getBackend()).toBe(requestedTestBackend())
    expect(tf.getBackend()).toBe(requestedTestBackend())
  })

  it("ntXent: dL/dW through tanh(X·W) equals finite differences of the float64 composition", () => {
    const w = asVariable(randomNormal([6, 4], 1, { std: 0.5 }))
    const [x1, x2, q] = [randomNormal([5, 6], 2), randomNormal([5, 6], 3), randomNormal([3, 4], 4)]
    const options = { temperature: 0.5, negatives: q }
    const { value, grads } = tf.variableGrads(() => ntXent(tf.tanh(tf.matMul(x1, w)), tf.tanh(tf.matMul(x2, w)), options), [w])
    const [m1, m2, mq] = [matrix(x1), matrix(x2), matrix(q)]
    const composed = (mw: Matrix) =>
      ntXentRef(tanhLayer(m1, mw), tanhLayer(m2, mw), { temperature: 0.5, normalize: true, reduction: "mean", negatives: mq })
    const fd = finiteDifference(composed, matrix(w))
    expect(value).toBeAllclose(composed(matrix(w)), { rtol: 1e-5 })
    expect(grads[w.name]!).toBeAllclose(fd, { rtol: 1e-4, atol: atol(fd) })
    tf.dispose([w, x1, x2, q, value, grads])
  })

  it("infoNce and distillationLoss: dL/dW through tanh(X·W) equal finite differences", () => {
    const w = asVariable(randomNormal([6, 4], 5, { std: 0.5 }))
    const [x1, x2, n, teacher] = [randomNormal([4, 6], 6), randomNormal([4, 6], 7), randomNormal([7, 4], 8), randomNormal([4, 4], 9)]
    const [m1, m2, mn, mt] = [matrix(x1), matrix(x2), matrix(n), matrix(teacher)]
    const info = tf.variableGrads(() => infoNce(tf.tanh(tf.matMul(x1, w)), tf.tanh(tf.matMul(x2, w)), n, { temperature: 0.2 }), [w])
    const fdInfo = finiteDifference((mw) => infoNceRef(tanhLayer(m1, mw), tanhLayer(m2, mw), mn, { temperature: 0.2, normalize: true }), matrix(w))
    expect(info.grads[w.name]!).toBeAllclose(fdInfo, { rtol: 1e-4, atol: atol(fdInfo) })
    const kd = tf.variableGrads(() => distillationLoss(tf.mul(tf.tanh(tf.matMul(x1, w)), 3), teacher, { temperature: 2, scaleByTemperatureSquared: true }), [w])
    const fdKd = finiteDifference(
      (mw) => distillationRef(tanhLayer(m1, mw).map((r) => r.map((v) => 3 * v)), mt, { temperature: 2, scaleByTemperatureSquared: true }),
      matrix(w)
    )
    expect(kd.grads[w.name]!).toBeAllclose(fdKd, { rtol: 1e-4, atol: atol(fdKd) })
    tf.dispose([w, x1, x2, n, teacher, info.value, info.grads, kd.value, kd.grads])
  })

  it("trains a tfjs-layers encoder with optimizer.minimize: the loss falls, memory stays flat", () => {
    const tfl = tfUnion
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [12], units: 16, activation: "relu", kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }) }),
        tfl.layers.dense({ units: 8, kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }) })
      ]
    })
    const optimizer = tf.train.adam(0.01)
    const losses: Array<number> = []
    let tensorsAfterFirstStep = 0
    for (let step = 0; step < 60; step++) {
      const [v1, v2] = twoViews(100 + 3 * step)
      const loss = optimizer.minimize(() => ntXent(model.apply(v1) as tf.Tensor, model.apply(v2) as tf.Tensor, { temperature: 0.2 }), true)!
      losses.push(loss.dataSync()[0]!)
      tf.dispose([loss, v1, v2])
      if (step === 0) tensorsAfterFirstStep = tf.memory().numTensors
    }
    expect(tf.memory().numTensors).toBe(tensorsAfterFirstStep)
    // ln(2N − 1) = ln 63 ≈ 4.14 is chance; the last ten steps must be clearly better than the first ten.
    expect(mean(losses.slice(-10))).toBeLessThan(mean(losses.slice(0, 10)) - 0.5)
    optimizer.dispose()
    model.layers.forEach((l) => l.dispose())
  })
})
