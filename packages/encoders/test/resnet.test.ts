import * as tf from "@tensorflow/tfjs-core"
import { randomUniform, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { InvalidArgumentError, resnet } from "../src/index.ts"
import { withModel } from "./helpers.ts"

const kernel = (seed: number): Array<number> =>
  withModel({ depth: 50, baseWidth: 16, seed }, (m) => Array.from(m.getLayer("layer3.0.conv2").getWeights()[0]!.dataSync()))

/** Every weight of a tiny ResNet built with `seed` (or the default), by name. */
const allWeights = (seed?: number) =>
  withModel({ depth: 18, baseWidth: 4, stem: "cifar", blocksPerGroup: [1, 1, 1, 1], ...(seed === undefined ? {} : { seed }) }, (m) =>
    m.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())] as const)
  )

describe("resnet structure", () => {
  useLeakCheck()

  it("uses torchvision's module names", () => {
    const names = withModel({ depth: 50, baseWidth: 8 }, (m) => new Set(m.layers.map((l) => l.name)))
    for (const name of ["conv1", "bn1", "maxpool", "layer1.0.conv1", "layer1.0.bn3", "layer1.0.downsample.0", "layer1.0.downsample.1", "layer2.0.conv2", "layer4.2.bn3", "avgpool"]) {
      expect(names.has(name)).toBe(true)
    }
    expect(names.has("layer1.1.downsample.0")).toBe(false)
  })

  it("maps images to pooled features of 512·w (basic) or 2048·w (bottleneck) channels, any input size", () => {
    const images = randomUniform([2, 33, 40, 3], 1) as tf.Tensor4D
    for (const [config, dim] of [
      [{ depth: 18, baseWidth: 4 }, 32],
      [{ depth: 50, baseWidth: 4 }, 128],
      [{ depth: 18, baseWidth: 4, stem: "cifar" }, 32],
      [{ depth: 50, baseWidth: 4, widthMultiplier: 2, skRatio: 0.0625, seRatio: 0.25 }, 256]
    ] as const) {
      withModel(config, (m) => {
        const h = m.predict(images) as tf.Tensor
        expect(h.shape).toEqual([2, dim])
        expect(h.dataSync().every(Number.isFinite)).toBe(true)
        h.dispose()
      })
    }
    images.dispose()
  })

  it("uses BN momentum 0.9 and epsilon 1e-5, and zero-initialises the last γ of every block", () => {
    withModel({ depth: 18, baseWidth: 4 }, (m) => {
      const bn = m.getLayer("layer1.0.bn1").getConfig()
      expect(bn["momentum"]).toBe(0.9)
      expect(bn["epsilon"]).toBe(1e-5)
      const [gammaLast] = m.getLayer("layer2.1.bn2").getWeights()
      const [gammaFirst] = m.getLayer("layer2.1.bn1").getWeights()
      expect(Array.from(gammaLast!.dataSync()).every((v) => v === 0)).toBe(true)
      expect(Array.from(gammaFirst!.dataSync()).every((v) => v === 1)).toBe(true)
    })
    withModel({ depth: 18, baseWidth: 4, zeroInitLastBlockGamma: false }, (m) => {
      expect(Array.from(m.getLayer("layer2.1.bn2").getWeights()[0]!.dataSync()).every((v) => v === 1)).toBe(true)
    })
  })

  it("initialises convolutions with TF2's VarianceScaling (fan-in, truncated normal), seeded", () => {
    const a = kernel(1)
    expect(kernel(1)).toEqual(a)
    expect(kernel(2)).not.toEqual(a)
    // fan-in 3·3·64 = 576: σ = √(1/576) before truncation at 2σ/0.8796; the sample std is ≈ 1/√576.
    const std = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length)
    expect(Math.abs(std - 1 / Math.sqrt(576))).toBeLessThan(0.05 / Math.sqrt(576))
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual((2 / Math.sqrt(576)) / 0.87962566103423978 + 1e-6)
  })

  it("gives every weight the same initial value for the same seed, including the default seed 0", () => {
    // tfjs reads an initializer seed of 0 as "no seed" (Math.random): no layer may get seed 0.
    expect(allWeights()).toEqual(allWeights())
    expect(allWeights(0)).toEqual(allWeights())
    expect(allWeights(3)).toEqual(allWeights(3))
  })

  it("behaves differently in training and inference: batch statistics vs moving averages", () => {
    withModel({ depth: 18, baseWidth: 4, stem: "cifar", zeroInitLastBlockGamma: false }, (m) => {
      const images = randomUniform([4, 8, 8, 3], 2) as tf.Tensor4D
      const infer = m.apply(images, { training: false }) as tf.Tensor
      const train = m.apply(images, { training: true }) as tf.Tensor
      const again = m.apply(images, { training: false }) as tf.Tensor
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(infer, train))).dataSync()[0]!)
      expect(diff).toBeGreaterThan(1e-3)
      // The training call moved the moving statistics (momentum 0.9), so inference changed too.
      const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(infer, again))).dataSync()[0]!)
      expect(moved).toBeGreaterThan(1e-6)
      tf.dispose([images, infer, train, again])
    })
  })
})

describe("resnet config errors", () => {
  useLeakCheck()

  it("names the bad option", () => {
    expect(() => resnet({ depth: 42 as never })).toThrow(InvalidArgumentError)
    expect(() => resnet({ depth: 42 as never })).toThrow(/^config\.depth: must be one of 18, 34, 50, 101, 152, 200; got 42/)
    expect(() => resnet({ depth: 50, widthMultiplier: 1.5 })).toThrow(/^config\.widthMultiplier: must be an integer in \[1, 64\], got 1\.5/)
    expect(() => resnet({ depth: 50, stem: "tiny" as never })).toThrow(/^config\.stem: must be one of "imagenet", "cifar"; got "tiny"/)
    expect(() => resnet({ depth: 50, inputShape: [32, 32] as never })).toThrow(/^config\.inputShape: expected \[height \| null, width \| null, channels\]/)
    expect(() => resnet({ depth: 50, widht: 2 } as never)).toThrow(/^config\.widht: unknown option/)
  })
})
