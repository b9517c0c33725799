/**
 * Batch norm in training vs inference, on the stock path (tfjs-layers' computation, which our
 * BatchNormalization subclass keeps on every backend without the fused kernels; the fused path is
 * tested with @simclr/backend-onednn): one training-mode call normalises with the batch moments and
 * moves the statistics to 0.9·old + 0.1·batch, with the biased (÷ n) batch variance, as tfjs-layers'
 * `moments` and Keras's non-fused layer (the official code: fused=False) compute it — torch's
 * running_var uses the unbiased one (÷ n − 1). Plus where γ starts at zero.
 */
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { randomUniform, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { BatchNormalization, hasFusedBatchNorm } from "../src/index.ts"
import { withModel } from "./helpers.ts"
import { batchNorm, moments, of, randomize, weightsOf, type Nd } from "./reference.ts"

/** The named layers' outputs of one call of the model (training or inference), as float64 arrays. */
const outputsOf = (m: tfl.LayersModel, x: tf.Tensor, layers: ReadonlyArray<string>, training: boolean): Array<Nd> => {
  const probe = tfl.model({ inputs: m.inputs, outputs: layers.map((l) => m.getLayer(l).output as tfl.SymbolicTensor) })
  const out = probe.apply(x, { training }) as tf.Tensor | Array<tf.Tensor>
  const tensors = Array.isArray(out) ? out : [out]
  const values = tensors.map(of)
  tf.dispose(tensors)
  return values
}

const gammaOf = (m: tfl.LayersModel, layer: string): Array<number> => Array.from(m.getLayer(layer).getWeights()[0]!.dataSync())
const allEqual = (values: ReadonlyArray<number>, v: number): boolean => values.length > 0 && values.every((u) => u === v)

// (BN layer, the convolution that feeds it): the stem, a bottleneck's last BN, the projection BN.
const PAIRS = [
  ["bn1", "conv1"],
  ["layer1.0.bn3", "layer1.0.conv3"],
  ["layer2.0.downsample.1", "layer2.0.downsample.0"]
] as const

describe("batch norm: training vs inference (stock tfjs-layers path)", () => {
  useLeakCheck()

  const config = { depth: 50, baseWidth: 4, stem: "cifar", blocksPerGroup: [1, 1, 1, 1], seed: 2 } as const

  it("runs the stock computation here: the backend has no fused batch-norm kernels", () => {
    expect(hasFusedBatchNorm()).toBe(false)
    withModel(config, (m) => {
      expect(m.getLayer("layer1.0.bn3")).toBeInstanceOf(BatchNormalization)
      expect(m.getLayer("layer1.0.bn3").getClassName()).toBe("BatchNormalization")
    })
  })

  it("one training call: output from the batch moments, moving mean 0.9·old + 0.1·mean, moving variance 0.9·old + 0.1·biased variance", () => {
    withModel(config, (m) => {
      // Non-trivial γ, β and old statistics, so that every term of the update shows.
      randomize(m, 3)
      const before = new Map(PAIRS.map(([bn]) => [bn, weightsOf(m, bn)]))
      const x = randomUniform([3, 6, 5, 3], 4)
      const outs = outputsOf(m, x, PAIRS.flatMap(([bn, conv]) => [conv, bn]), true)
      PAIRS.forEach(([bn], i) => {
        const input = outs[2 * i]!
        const output = outs[2 * i + 1]!
        const [gamma, beta, oldMean, oldVariance] = before.get(bn)!
        const { mean, variance, count } = moments(input)
        // Training output: normalised with the batch mean and the biased batch variance, ε = 1e-5.
        const normalised = batchNorm(input, [gamma!, beta!, mean, variance], 1e-5)
        const scale = normalised.data.reduce((a, v) => Math.max(a, Math.abs(v)), 0)
        expect(Array.from(output.data)).toBeAllclose(Array.from(normalised.data), { rtol: 0, atol: 1e-5 * scale })
        // Moving statistics after the call.
        const [, , newMean, newVariance] = weightsOf(m, bn)
        const expectedMean = Array.from(oldMean!, (v, c) => 0.9 * v + 0.1 * mean[c]!)
        const expectedVariance = Array.from(oldVariance!, (v, c) => 0.9 * v + 0.1 * variance[c]!)
        expect(Array.from(newMean!)).toBeAllclose(expectedMean, { rtol: 1e-5, atol: 1e-6 })
        expect(Array.from(newVariance!)).toBeAllclose(expectedVariance, { rtol: 1e-5, atol: 1e-6 })
        // The unbiased variance (torch's running_var, n / (n − 1) larger) is measurably not what is used.
        const unbiased = Array.from(oldVariance!, (v, c) => 0.9 * v + (0.1 * variance[c]! * count) / (count - 1))
        expect(Array.from(newVariance!)).not.toBeAllclose(unbiased, { rtol: 1e-5, atol: 1e-6 })
      })
      tf.dispose(x)
    })
  })

  it("inference uses the moving statistics, does not move them, and differs from training", () => {
    withModel(config, (m) => {
      randomize(m, 5)
      const x = randomUniform([2, 5, 6, 3], 6)
      const stats = PAIRS.map(([bn]) => weightsOf(m, bn))
      const inferred = outputsOf(m, x, PAIRS.flatMap(([bn, conv]) => [conv, bn]), false)
      PAIRS.forEach(([bn], i) => {
        const expected = batchNorm(inferred[2 * i]!, stats[i]!, 1e-5)
        const scale = expected.data.reduce((a, v) => Math.max(a, Math.abs(v)), 0)
        expect(Array.from(inferred[2 * i + 1]!.data)).toBeAllclose(Array.from(expected.data), { rtol: 0, atol: 1e-5 * scale })
        expect(weightsOf(m, bn)).toEqual(stats[i])
      })
      const trained = outputsOf(m, x, ["avgpool"], true)[0]!
      const again = outputsOf(m, x, ["avgpool"], false)[0]!
      const first = outputsOf(m, x, ["avgpool"], false)[0]!
      // The training call moved the statistics, so inference changed; two inference calls agree.
      expect(Array.from(again.data)).toEqual(Array.from(first.data))
      expect(Math.max(...trained.data.map((v, i) => Math.abs(v - again.data[i]!)))).toBeGreaterThan(1e-3)
      tf.dispose(x)
    })
  })
})

describe("zero-initialised last γ", () => {
  useLeakCheck()

  it("basic blocks: bn2 starts at 0, bn1 and the projection BN at 1", () => {
    withModel({ depth: 18, baseWidth: 4 }, (m) => {
      for (const block of ["layer1.0", "layer1.1", "layer2.0", "layer4.1"]) {
        expect(allEqual(gammaOf(m, `${block}.bn2`), 0)).toBe(true)
        expect(allEqual(gammaOf(m, `${block}.bn1`), 1)).toBe(true)
      }
      expect(allEqual(gammaOf(m, "layer2.0.downsample.1"), 1)).toBe(true)
      expect(allEqual(gammaOf(m, "bn1"), 1)).toBe(true)
    })
  })

  it("bottleneck blocks: bn3 starts at 0, bn1, bn2 and the projection BN at 1", () => {
    withModel({ depth: 50, baseWidth: 4 }, (m) => {
      const bn3 = m.layers.filter((l) => l.name.endsWith(".bn3")).map((l) => l.name)
      expect(bn3.length).toBe(3 + 4 + 6 + 3)
      for (const name of bn3) expect(allEqual(gammaOf(m, name), 0)).toBe(true)
      for (const name of ["layer1.0.bn1", "layer1.0.bn2", "layer3.5.bn2", "layer1.0.downsample.1", "bn1"]) expect(allEqual(gammaOf(m, name), 1)).toBe(true)
    })
  })

  it("SK blocks: bn3 starts at 0; the SK stream BN, the SK hidden BN, the deep stem and the ResNet-D projection BN at 1", () => {
    withModel({ depth: 50, baseWidth: 4, skRatio: 0.0625, blocksPerGroup: [2, 1, 1, 1] }, (m) => {
      for (const block of ["layer1.0", "layer1.1", "layer2.0", "layer4.0"]) {
        expect(allEqual(gammaOf(m, `${block}.bn3`), 0)).toBe(true)
        expect(allEqual(gammaOf(m, `${block}.conv2.bn`), 1)).toBe(true)
        expect(allEqual(gammaOf(m, `${block}.conv2.fc1.bn`), 1)).toBe(true)
        expect(allEqual(gammaOf(m, `${block}.bn1`), 1)).toBe(true)
      }
      for (const name of ["bn1.0", "bn1.1", "bn1", "layer1.0.downsample.2", "layer2.0.downsample.2"]) expect(allEqual(gammaOf(m, name), 1)).toBe(true)
    })
  })

  it("zeroInitLastBlockGamma: false starts every γ at 1 (basic, bottleneck, SK)", () => {
    for (const config of [{ depth: 18 }, { depth: 50 }, { depth: 50, skRatio: 0.0625 }] as const) {
      withModel({ ...config, baseWidth: 4, blocksPerGroup: [1, 1, 1, 1], zeroInitLastBlockGamma: false }, (m) => {
        const gammas = m.layers.filter((l) => l.getClassName() === "BatchNormalization").map((l) => gammaOf(m, l.name))
        expect(gammas.length).toBeGreaterThan(8)
        for (const g of gammas) expect(allEqual(g, 1)).toBe(true)
      })
    }
  })
})
