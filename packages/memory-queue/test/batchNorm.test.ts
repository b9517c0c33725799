/**
 * The momentum network's batch-norm statistics come from its own training-mode forward passes (as in
 * MoCo), although it is not trainable: in tfjs-layers a layer's `trainable` flag does not switch batch
 * norm to inference mode (Keras does), which these tests pin down.
 */
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { randomNormal, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { momentumEncoder } from "../src/index.ts"
import { batchNorms, disposeModels, tinySimclr, weightOf } from "./reference.ts"

const values = (w: tfl.LayerVariable): Array<number> => Array.from(w.read().dataSync())
const statistics = (model: tfl.LayersModel): Array<Array<number>> =>
  batchNorms(model).flatMap((l) => [values(weightOf(l, "moving_mean")), values(weightOf(l, "moving_variance"))])

describe("batch norm of the momentum network", () => {
  useLeakCheck()

  it("a training-mode pass normalises with the batch's statistics and moves the target's moving averages (float64 reference)", () => {
    const decay = 0.9
    const epsilon = 1e-3
    const online = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [3], units: 2, kernelInitializer: tfl.initializers.randomNormal({ seed: 1 }), biasInitializer: tfl.initializers.randomNormal({ seed: 2 }) }),
        tfl.layers.batchNormalization({ momentum: decay, epsilon, gammaInitializer: tfl.initializers.constant({ value: 1.5 }), betaInitializer: tfl.initializers.constant({ value: -0.25 }) })
      ]
    })
    const bn = online.layers[1]!
    // Non-default statistics, to see that the copy starts from the online model's.
    tf.tidy(() => {
      weightOf(bn, "moving_mean").write(tf.tensor1d([0.5, -0.5]))
      weightOf(bn, "moving_variance").write(tf.tensor1d([2, 3]))
    })
    const target = momentumEncoder(online)
    const targetBn = target.layers[1]!
    const [kernel, bias] = online.layers[0]!.weights.map((w) => w.read().arraySync()) as [Array<Array<number>>, Array<number>]
    const xs = [[1, 2, 3], [-1, 0.5, 2], [0, 0, 1], [2, -1, -0.5], [0.25, 0.75, -2]]
    const x = tf.tensor2d(xs)
    const y = tf.tidy(() => (target.apply(x, { training: true }) as tf.Tensor).arraySync() as Array<Array<number>>)

    // The same in float64: u = xW + b, batch mean and biased variance, y = γ(u − μ)/√(σ² + ε) + β.
    const u = xs.map((row) => bias.map((b, j) => b + row.reduce((s, v, k) => s + v * kernel[k]![j]!, 0)))
    const mean = [0, 1].map((j) => u.reduce((s, r) => s + r[j]!, 0) / u.length)
    const variance = [0, 1].map((j) => u.reduce((s, r) => s + (r[j]! - mean[j]!) ** 2, 0) / u.length)
    const expectedY = u.map((r) => r.map((v, j) => 1.5 * (v - mean[j]!) / Math.sqrt(variance[j]! + epsilon) - 0.25))
    // Values of order 1 through a 3-term product, a 5-row mean and variance in float32 (ε = 2⁻²⁴ per
    // rounding, a few dozen roundings): 1e-5 absolute is ~100× the rounding and far below any real
    // difference (inference mode with the moving statistics gives differences of order 1).
    expect(y).toBeAllclose(expectedY, { atol: 1e-5, rtol: 0 })
    expect(values(weightOf(targetBn, "moving_mean"))).toBeAllclose([0.5, -0.5].map((m, j) => m - (m - mean[j]!) * (1 - decay)), { atol: 1e-6, rtol: 0 })
    expect(values(weightOf(targetBn, "moving_variance"))).toBeAllclose([2, 3].map((v, j) => v - (v - variance[j]!) * (1 - decay)), { atol: 1e-6, rtol: 0 })
    // The online model's statistics did not move.
    expect(values(weightOf(bn, "moving_mean"))).toEqual([0.5, -0.5])
    expect(values(weightOf(bn, "moving_variance"))).toEqual([2, 3])
    x.dispose()
    disposeModels(online, target)
  })

  it("on the real SimCLR model every batch norm of the target moves, none of the online model's does, and the target computes what a trainable copy computes", () => {
    const online = tinySimclr()
    const target = momentumEncoder(online)
    const x = randomNormal([4, 8, 8, 3], 7, { mean: 0.5 })
    const start = statistics(online)
    expect(statistics(target)).toEqual(start)
    expect(batchNorms(target).length).toBe(12 + 3)

    const keys = tf.tidy(() => (target.apply(x, { training: true }) as Array<tf.Tensor>).map((t) => Array.from(t.dataSync())))
    const moved = statistics(target)
    expect(moved.map((s, i) => s.some((v, j) => v !== start[i]![j]))).toEqual(start.map(() => true))
    expect(statistics(online)).toEqual(start)

    // The online (trainable) model on the same batch in training mode: same outputs, same statistics.
    const queries = tf.tidy(() => (online.apply(x, { training: true }) as Array<tf.Tensor>).map((t) => Array.from(t.dataSync())))
    expect(keys).toEqual(queries)
    expect(statistics(online)).toEqual(moved)
    x.dispose()
    disposeModels(online, target)
  })
})
