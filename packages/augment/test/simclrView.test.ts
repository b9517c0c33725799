import * as tf from "@tensorflow/tfjs-core"
import { randomUniform, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { augmentPresets, blurKernelSize, InvalidArgumentError, simclrView, twoViews, type ViewConfig } from "../src/index.ts"
import { expectProportion } from "./stats.ts"

/** Per-image maximum |a − b|. */
const perImageMaxDiff = (a: tf.Tensor, b: tf.Tensor): Float32Array =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b)), [1, 2, 3]).dataSync() as Float32Array)

/** The centre pixel of each image (red channel). */
const centre = (v: tf.Tensor): Array<number> => tf.tidy(() => Array.from(tf.slice(v, [0, 4, 4, 0], [-1, 1, 1, 1]).dataSync()))

const only = (over: Partial<ViewConfig>): ViewConfig => ({ size: [6, 6], crop: false, flip: 0, color: false, blur: false, ...over })

describe("simclrView probabilities (n = 2000 images each)", () => {
  useLeakCheck()
  const n = 2000

  it("flips with p = 0.5", () => {
    const images = randomUniform([n, 6, 6, 3], 1) as tf.Tensor4D
    const view = simclrView(images, only({ flip: 0.5 }), 11)
    const mirrored = tf.reverse(images, 2)
    const same = perImageMaxDiff(view, images)
    const flipped = perImageMaxDiff(view, mirrored)
    let hits = 0
    same.forEach((d, i) => {
      expect(d === 0 || flipped[i] === 0).toBe(true)
      if (flipped[i] === 0) hits++
    })
    expectProportion(hits, n, 0.5)
    tf.dispose([images, view, mirrored])
  })

  it("jitters with p = 0.8 and turns gray with p = 0.2, independently", () => {
    const images = randomUniform([n, 6, 6, 3], 2, { min: 0.2, max: 0.8 }) as tf.Tensor4D
    const view = simclrView(images, only({ color: { strength: 1, p: 0.8, grayscaleP: 0.2 } }), 12)
    const changed = perImageMaxDiff(view, images)
    const gray = tf.tidy(() => {
      const [r, g, b] = tf.split(view, 3, 3)
      return tf.max(tf.add(tf.abs(tf.sub(r!, g!)), tf.abs(tf.sub(g!, b!))), [1, 2, 3]).dataSync()
    })
    let grays = 0
    let unchanged = 0
    changed.forEach((d, i) => {
      if (gray[i]! < 1e-6) grays++
      else if (d < 1e-6) unchanged++
    })
    expectProportion(grays, n, 0.2)
    // Neither jittered nor gray: (1 − 0.8)·(1 − 0.2) = 0.16.
    expectProportion(unchanged, n, 0.16)
    tf.dispose([images, view])
  })

  it("blurs with p = 0.5", () => {
    const checker = tf.tidy(() => tf.tile(tf.tensor4d([1, 0, 0, 1], [1, 2, 2, 1]), [n, 5, 5, 3])) as tf.Tensor4D
    const view = simclrView(checker, { ...only({ blur: { p: 0.5, kernelFraction: 0.3 } }), size: [10, 10] }, 13)
    const changed = perImageMaxDiff(view, checker)
    expectProportion(Array.from(changed).filter((d) => d > 1e-3).length, n, 0.5)
    tf.dispose([checker, view])
  })

  it("shares one σ per batch when sigmaPer is 'batch' and draws one per image otherwise", () => {
    const dot = tf.tidy(() => tf.tile(tf.pad(tf.ones([1, 1, 1, 3]), [[0, 0], [4, 4], [4, 4], [0, 0]]), [64, 1, 1, 1])) as tf.Tensor4D
    const shared = simclrView(dot, { ...only({ blur: { p: 1, sigmaPer: "batch", kernelFraction: 0.5 } }), size: [9, 9] }, 14)
    const own = simclrView(dot, { ...only({ blur: { p: 1, sigmaPer: "image", kernelFraction: 0.5 } }), size: [9, 9] }, 14)
    expect(new Set(centre(shared).map((v) => v.toFixed(6))).size).toBe(1)
    expect(new Set(centre(own).map((v) => v.toFixed(6))).size).toBeGreaterThan(32)
    tf.dispose([dot, shared, own])
  })
})

describe("simclrView determinism and shapes", () => {
  useLeakCheck()

  it("same seed → identical views; other seed → other views; the two views differ", () => {
    const images = randomUniform([6, 20, 24, 3], 3) as tf.Tensor4D
    const config = augmentPresets.official(16)
    const a = simclrView(images, config, 5)
    const b = simclrView(images, config, 5)
    const c = simclrView(images, config, 6)
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()))
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()))
    const [v1, v2] = twoViews(images, config, 5)
    expect(Array.from(v1.dataSync())).not.toEqual(Array.from(v2.dataSync()))
    const [w1, w2] = twoViews(images, config, 5)
    expect(Array.from(w1.dataSync())).toEqual(Array.from(v1.dataSync()))
    expect(Array.from(w2.dataSync())).toEqual(Array.from(v2.dataSync()))
    tf.dispose([images, a, b, c, v1, v2, w1, w2])
  })

  it("draws each image's parameters separately: identical inputs give different views", () => {
    const one = randomUniform([1, 20, 20, 3], 4) as tf.Tensor4D
    const batch = tf.tile(one, [8, 1, 1, 1]) as tf.Tensor4D
    const view = simclrView(batch, augmentPresets.torchvision(12), 1)
    const flat = tf.tidy(() => tf.unstack(view).map((t) => Array.from(t.dataSync()).join(",")))
    expect(new Set(flat).size).toBe(8)
    tf.dispose([one, batch, view])
  })

  for (const name of ["official", "torchvision", "cifar10", "finetune", "eval"] as const) {
    it(`preset "${name}" gives RGB views of the preset size in [0, 1]`, () => {
      const images = randomUniform([3, 40, 36, 3], 5) as tf.Tensor4D
      const config = name === "official" || name === "torchvision" || name === "finetune" || name === "eval" ? augmentPresets[name](24) : name
      const size = name === "cifar10" ? 32 : 24
      const view = simclrView(images, config, 9)
      expect(view.shape).toEqual([3, size, size, 3])
      const [min, max] = tf.tidy(() => [tf.min(view).dataSync()[0]!, tf.max(view).dataSync()[0]!])
      expect(min).toBeGreaterThanOrEqual(0)
      expect(max).toBeLessThanOrEqual(1)
      tf.dispose([images, view])
    })
  }

  it("eval is deterministic (centre crop) and ignores the seed", () => {
    const images = randomUniform([2, 50, 40, 3], 6) as tf.Tensor4D
    const a = simclrView(images, augmentPresets.eval(36), 1)
    const b = simclrView(images, augmentPresets.eval(36), 2)
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()))
    tf.dispose([images, a, b])
  })

  it("tiles 1-channel images to RGB", () => {
    const gray = randomUniform([2, 10, 10, 1], 7) as tf.Tensor4D
    const view = simclrView(gray, only({ size: [10, 10] }), 1)
    expect(view.shape).toEqual([2, 10, 10, 3])
    tf.dispose([gray, view])
  })

  it("official blur kernel: 23 taps at 224 px, 3 at 32 px", () => {
    expect(blurKernelSize(224)).toBe(23)
    expect(blurKernelSize(32)).toBe(3)
    expect(blurKernelSize(96)).toBe(9)
  })
})

describe("simclrView input errors", () => {
  useLeakCheck()

  it("rejects pixels outside [0, 1] by name (and clips them when validateRange is false)", () => {
    const bytes = tf.tidy(() => tf.mul(randomUniform([2, 8, 8, 3], 8), 255)) as tf.Tensor4D
    expect(() => simclrView(bytes, only({ size: [8, 8] }), 1)).toThrow(/^images: values must lie in \[0, 1\], found \[.*\] \(8-bit pixels\? divide by 255\)/)
    // Unchecked input is clipped before the ops: the same view as from the clipped input.
    const unchecked = simclrView(bytes, { ...augmentPresets.official(8), validateRange: false }, 1)
    const clippedInput = tf.clipByValue(bytes, 0, 1)
    const reference = simclrView(clippedInput, augmentPresets.official(8), 1)
    expect(Array.from(unchecked.dataSync())).toEqual(Array.from(reference.dataSync()))
    tf.dispose([bytes, unchecked, clippedInput, reference])
  })

  it("names wrong ranks, channels, dtypes, configs and seeds", () => {
    const rank3 = tf.zeros([8, 8, 3])
    const four = tf.zeros([1, 8, 8, 4])
    const ints = tf.zeros([1, 8, 8, 3], "int32")
    const ok = tf.zeros([1, 8, 8, 3])
    expect(() => simclrView(rank3, "cifar10", 1)).toThrow(/^images: expected rank 4 NHWC images \[B, H, W, C\], got rank 3 .*tf\.expandDims/)
    expect(() => simclrView(four, "cifar10", 1)).toThrow(/^images: expected 1 or 3 channels \(RGB\), got 4 .*drop alpha/)
    expect(() => simclrView(ints, "cifar10", 1)).toThrow(/^images: expected float32 values in \[0, 1\], got dtype int32/)
    expect(() => simclrView(ok, "imagenet" as never, 1)).toThrow(/^config: must be one of "official", "torchvision", "cifar10", "finetune", "eval"; got "imagenet"/)
    expect(() => simclrView(ok, { size: [8, 8], colour: false } as never, 1)).toThrow(/^config\.colour: unknown option/)
    expect(() => simclrView(ok, { size: [8, 8], flip: 2 }, 1)).toThrow(/^config\.flip: must be a number in \[0, 1\], got 2/)
    expect(() => simclrView(ok, { size: [8, 8], color: { style: "pil" as never } }, 1)).toThrow(/^config\.color\.style: must be one of "tf", "torchvision"/)
    expect(() => simclrView(ok, "cifar10", 1.5)).toThrow(InvalidArgumentError)
    expect(() => simclrView(ok, "cifar10", 1.5)).toThrow(/^seed: expected an integer seed, got 1\.5/)
    tf.dispose([rank3, four, ints, ok])
  })
})
