/**
 * The numbers of the selective-kernel, ResNet-D and squeeze-excitation parts against float64
 * references written from the official definitions (test/reference.ts) and hand-computed values:
 * SkStreamSum, SkMix, SE, the average-pool shortcut at stride 1 and 2 on odd and even sizes, whole SK
 * blocks, and gradients through a tiny SK + SE model.
 */
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { onBackendWithKernel, normalArray, randomNormal, randomUniform, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { SkMix, SkStreamSum } from "../src/index.ts"
import { withModel } from "./helpers.ts"
import { avgPool2PadValid, avgPool2Same, bottleneck, countParameters, of, randomize, skMix, squeezeExcite, weightsOf, type Nd } from "./reference.ts"

/** Runs the model in inference and returns the named layers' outputs as float64 arrays. */
const outputsOf = (m: tfl.LayersModel, x: tf.Tensor, layers: ReadonlyArray<string>): Array<Nd> => {
  const probe = tfl.model({ inputs: m.inputs, outputs: layers.map((l) => m.getLayer(l).output as tfl.SymbolicTensor) })
  const out = probe.predict(x)
  const tensors = Array.isArray(out) ? out : [out]
  const values = tensors.map(of)
  tf.dispose(tensors)
  return values
}

const maxAbs = (x: Nd): number => x.data.reduce((a, v) => Math.max(a, Math.abs(v)), 0)

/** tfjs' own wasm backend cannot differentiate a convolution with respect to its kernel. */
const hasConvGradient = tf.getKernel("Conv2DBackpropFilter", tf.getBackend()) !== undefined

/** 1, 2, …, h·w as a [1, h, w, 1] image. */
const ramp = (h: number, w: number): tf.Tensor4D => tf.tensor4d(Array.from({ length: h * w }, (_v, i) => i + 1), [1, h, w, 1])

/** A training step of a tiny SK + SE model on the current backend, checked gradient by gradient. */
const gradientStep = (): void => {
  const config = { depth: 50, baseWidth: 4, skRatio: 0.0625, seRatio: 0.25, blocksPerGroup: [1, 1, 1, 1], zeroInitLastBlockGamma: false, seed: 6 } as const
  withModel(config, (m) => {
    const x = randomUniform([3, 32, 32, 3], 7)
    const variables = m.trainableWeights.map((w) => w.read() as tf.Variable)
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(m.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, variables)
    expect(Number.isFinite(value.dataSync()[0])).toBe(true)
    // One gradient per trainable weight, of its shape.
    expect(Object.keys(grads).length).toBe(m.trainableWeights.length)
    let elements = 0
    for (const v of variables) {
      const g = grads[v.name]!
      expect(g.shape).toEqual(v.shape)
      const values = g.dataSync()
      elements += values.length
      expect(values.every(Number.isFinite)).toBe(true)
      expect(values.some((e) => e !== 0)).toBe(true)
    }
    // Every trainable parameter got one gradient value: the hand count of this configuration.
    expect(elements).toBe(countParameters(config).trainable)
    tf.dispose([x, value, ...Object.values(grads)])
  })
}

describe("SkStreamSum and SkMix", () => {
  useLeakCheck()

  it("SkStreamSum adds the two channel halves: exactly one correctly rounded float32 addition per value", () => {
    const x = randomNormal([2, 3, 2, 8], 1)
    const layer = new SkStreamSum({})
    const y = layer.apply(x) as tf.Tensor
    expect(y.shape).toEqual([2, 3, 2, 4])
    const v = x.dataSync()
    const expected = Array.from({ length: 2 * 3 * 2 * 4 }, (_u, i) => Math.fround(v[Math.floor(i / 4) * 8 + (i % 4)]! + v[Math.floor(i / 4) * 8 + (i % 4) + 4]!))
    expect(Array.from(y.dataSync())).toEqual(expected)
    expect(layer.computeOutputShape([null, 5, 7, 8])).toEqual([null, 5, 7, 4])
    tf.dispose([x, y])
  })

  it("SkMix weights each channel of the two streams by a softmax over the two logits (float64 reference, 1e-6 × max|s|)", () => {
    const f = 4
    const streams = randomNormal([3, 2, 3, 2 * f], 2)
    // Image 0: moderate logits; image 1: saturated (±40, a softmax weight of e^-80) and ties; image 2: a
    // common shift of 1000 (a softmax depends on differences only).
    const moderate = Array.from(normalArray(2 * f, 3), (v) => 3 * v)
    const logitRows = [moderate, [40, -40, 0, 7, -40, 40, 0, -7], moderate.map((v) => v + 1000)]
    const logits = tf.tensor2d(logitRows)
    const y = new SkMix({}).apply([streams, logits]) as tf.Tensor
    const expected = skMix(of(streams), of(logits))
    expect(y.shape).toEqual([3, 2, 3, f])
    expect(expected.shape).toEqual([3, 2, 3, f])
    expect(y).toBeAllclose(Array.from(expected.data), { rtol: 0, atol: 1e-6 * maxAbs(of(streams)) })
    // Saturated logits pick one stream; equal logits average the two.
    const s = of(streams).data
    const out = y.dataSync()
    const at = (n: number, c: number) => ((n * 2 + 0) * 3 + 0) * 2 * f + c
    expect(out[((1 * 2 + 0) * 3 + 0) * f + 0]).toBeCloseTo(s[at(1, 0)]!, 6)
    expect(out[((1 * 2 + 0) * 3 + 0) * f + 1]).toBeCloseTo(s[at(1, 1 + f)]!, 6)
    expect(out[((1 * 2 + 0) * 3 + 0) * f + 2]).toBeCloseTo((s[at(1, 2)]! + s[at(1, 2 + f)]!) / 2, 6)
    expect(new SkMix({}).computeOutputShape([[null, 4, 4, 8], [null, 8]])).toEqual([null, 4, 4, 4])
    tf.dispose([streams, logits, y])
  })
})

describe("squeeze-and-excitation", () => {
  useLeakCheck()

  it("adds 2·C·h + h + C parameters per block, h = max(1, ⌊filters·ratio⌋) (ResNet-50, ratio 0.25: 2,530,992)", () => {
    const plain = withModel({ depth: 50 }, (m) => m.countParams())
    const se = withModel({ depth: 50, seRatio: 0.25 }, (m) => m.countParams())
    // By hand: groups of 3, 4, 6, 3 blocks with f = 64, 128, 256, 512, C = 4f, h = f/4:
    // Σ blocks · (2·4f·f/4 + f/4 + 4f) = 3·8,464 + 4·33,312 + 6·132,160 + 3·526,464.
    expect(se - plain).toBe(3 * 8_464 + 4 * 33_312 + 6 * 132_160 + 3 * 526_464)
    expect(se - plain).toBe(2_530_992)
    expect(se - plain).toBe(countParameters({ depth: 50, seRatio: 0.25 }).all - countParameters({ depth: 50 }).all)
    // A ratio so small that ⌊filters·ratio⌋ = 0 still keeps one hidden unit per block (basic blocks: C = f).
    const tiny = withModel({ depth: 18, seRatio: 0.001 }, (m) => m.countParams()) - withModel({ depth: 18 }, (m) => m.countParams())
    expect(tiny).toBe([64, 64, 128, 128, 256, 256, 512, 512].reduce((s, f) => s + 2 * f * 1 + 1 + f, 0))
  })

  it("computes x · sigmoid(W₂ relu(W₁ mean(x) + b₁) + b₂) (float64 reference, 1e-5 × max|ref|)", () => {
    withModel({ depth: 18, baseWidth: 4, stem: "cifar", seRatio: 0.5, blocksPerGroup: [1, 1, 1, 1], seed: 3 }, (m) => {
      randomize(m, 4)
      const x = randomUniform([2, 6, 5, 3], 5)
      const [before, after] = outputsOf(m, x, ["layer2.0.bn2", "layer2.0.se.scale"])
      // filters 8, ratio 0.5: 4 hidden units.
      expect(weightsOf(m, "layer2.0.se.fc1")[0]!.length).toBe(8 * 4)
      const expected = squeezeExcite(before!, weightsOf(m, "layer2.0.se.fc1"), weightsOf(m, "layer2.0.se.fc2"))
      expect(after!.shape).toEqual(expected.shape)
      expect(Array.from(after!.data)).toBeAllclose(Array.from(expected.data), { rtol: 0, atol: 1e-5 * maxAbs(expected) })
      tf.dispose(x)
    })
  })
})

describe("ResNet-D average-pool shortcut", () => {
  useLeakCheck()

  // The shortcut layers of a tiny SK model: layer1.0 (stride 1) and layer2.0 (stride 2).
  const config = { depth: 50, baseWidth: 4, stem: "cifar", skRatio: 0.0625, blocksPerGroup: [1, 1, 1, 1] } as const

  it("stride 1: a 2×2 'same' mean, padding not counted — hand-computed on 3×3 and 4×4", () => {
    withModel(config, (m) => {
      const pool = m.getLayer("layer1.0.downsample.0")
      const odd = tf.tidy(() => pool.apply(ramp(3, 3)) as tf.Tensor)
      // (1+2+4+5)/4, (2+3+5+6)/4, (3+6)/2; …; the last row (7+8)/2, (8+9)/2, 9.
      expect(Array.from(odd.dataSync())).toEqual([3, 4, 4.5, 6, 7, 7.5, 7.5, 8.5, 9])
      const even = tf.tidy(() => pool.apply(ramp(4, 4)) as tf.Tensor)
      expect(Array.from(even.dataSync())).toEqual([3.5, 4.5, 5.5, 6, 7.5, 8.5, 9.5, 10, 11.5, 12.5, 13.5, 14, 13.5, 14.5, 15.5, 16])
      tf.dispose([odd, even])
    })
  })

  it("stride 2: one zero row and column appended, then 2×2 means of 4 values — hand-computed on 3×3 and 4×4", () => {
    withModel(config, (m) => {
      const pad = m.getLayer("layer2.0.downsample.0.pad")
      const pool = m.getLayer("layer2.0.downsample.0")
      const odd = tf.tidy(() => pool.apply(pad.apply(ramp(3, 3))) as tf.Tensor)
      // (1+2+4+5)/4, (3+6+0+0)/4; (7+8+0+0)/4, (9+0+0+0)/4: the padded zeros count, as in the official code.
      expect(Array.from(odd.dataSync())).toEqual([3, 2.25, 3.75, 2.25])
      const even = tf.tidy(() => pool.apply(pad.apply(ramp(4, 4))) as tf.Tensor)
      expect(Array.from(even.dataSync())).toEqual([3.5, 5.5, 11.5, 13.5])
      tf.dispose([odd, even])
    })
  })

  for (const size of [7, 8]) {
    it(`inside the model on ${size}×${size} (${size % 2 === 1 ? "odd" : "even"}): both pools equal the float64 reference`, () => {
      withModel({ ...config, inputShape: [size, size, 3] }, (m) => {
        randomize(m, 10 + size)
        const x = randomUniform([2, size, size, 3], size)
        const [stem, pool1, block1, pool2] = outputsOf(m, x, ["relu", "layer1.0.downsample.0", "layer1.0.relu", "layer2.0.downsample.0"])
        const expected1 = avgPool2Same(stem!)
        const expected2 = avgPool2PadValid(block1!)
        expect(pool1!.shape).toEqual([2, size, size, 4])
        expect(pool2!.shape).toEqual([2, Math.ceil(size / 2), Math.ceil(size / 2), 16])
        // A mean of at most four float32 values: within a few ulp.
        expect(Array.from(pool1!.data)).toBeAllclose(Array.from(expected1.data), { rtol: 1e-6, atol: 1e-7 })
        expect(Array.from(pool2!.data)).toBeAllclose(Array.from(expected2.data), { rtol: 1e-6, atol: 1e-7 })
        tf.dispose(x)
      })
    })
  }
})

describe("selective-kernel blocks", () => {
  useLeakCheck()

  for (const size of [7, 8]) {
    it(`SK + SE bottleneck blocks at stride 1 and 2 on ${size}×${size} equal the float64 reference (1e-5 × max|ref|)`, () => {
      const config = { depth: 50, baseWidth: 4, stem: "cifar", skRatio: 0.0625, seRatio: 0.25, blocksPerGroup: [1, 1, 1, 1], inputShape: [size, size, 3] } as const
      withModel(config, (m) => {
        randomize(m, 20 + size)
        const x = randomUniform([2, size, size, 3], 30 + size)
        const [stem, block1, block2] = outputsOf(m, x, ["relu", "layer1.0.relu", "layer2.0.relu"])
        // SK's hidden width: max(⌊filters · 0.0625⌋, 32) = 32 for these 4- and 8-wide groups.
        expect(weightsOf(m, "layer2.0.conv2.fc1")[0]!.length).toBe(8 * 32)
        const expected1 = bottleneck(m, "layer1.0", stem!, { stride: 1, sk: true, se: true, epsilon: 1e-5 })
        const expected2 = bottleneck(m, "layer2.0", block1!, { stride: 2, sk: true, se: true, epsilon: 1e-5 })
        expect(block1!.shape).toEqual(expected1.shape)
        expect(block2!.shape).toEqual(expected2.shape)
        expect(Array.from(block1!.data)).toBeAllclose(Array.from(expected1.data), { rtol: 0, atol: 1e-5 * maxAbs(expected1) })
        expect(Array.from(block2!.data)).toBeAllclose(Array.from(expected2.data), { rtol: 0, atol: 1e-5 * maxAbs(expected2) })
        tf.dispose(x)
      })
    })
  }

  it("the deep stem and SK blocks of a whole tiny ResNet-50 (ImageNet stem) equal the float64 reference block by block", () => {
    withModel({ depth: 50, baseWidth: 4, skRatio: 0.0625, blocksPerGroup: [1, 1, 1, 1] }, (m) => {
      randomize(m, 40)
      const x = randomUniform([2, 19, 19, 3], 41)
      const names = ["maxpool", "layer1.0.relu", "layer2.0.relu", "layer3.0.relu", "layer4.0.relu"]
      const outs = outputsOf(m, x, names)
      for (let i = 1; i < names.length; i++) {
        const expected = bottleneck(m, `layer${i}.0`, outs[i - 1]!, { stride: i === 1 ? 1 : 2, sk: true, se: false, epsilon: 1e-5 })
        expect(Array.from(outs[i]!.data)).toBeAllclose(Array.from(expected.data), { rtol: 0, atol: 1e-5 * maxAbs(expected) })
      }
      tf.dispose(x)
    })
  })
})

describe("gradients through SK and SE", () => {
  useLeakCheck()

  it(`a training step of a tiny SK + SE ResNet-50 gives every trainable weight a finite, non-zero gradient, and frees everything${hasConvGradient ? "" : ` (on the cpu backend: ${tf.getBackend()} has no Conv2DBackpropFilter kernel)`}`, async () => {
    expect(await onBackendWithKernel("Conv2DBackpropFilter", gradientStep)).toBe(hasConvGradient ? tf.getBackend() : "cpu")
  })
})
