/**
 * What a SimCLR view draws and what it does with the draws.
 *
 * - The parameter distributions of reference §2.3 / §2.4 (factor ranges ∝ strength, uniform; hue ±0.2·s;
 *   the jitter order uniform over the 24 orders; σ ~ U(0.1, 2)), checked on the plan `simclrView` applies:
 *   Kolmogorov–Smirnov at α ≈ 1e-6 (critical value 2.65/√n) and 5-σ binomial bounds, so a correct draw
 *   fails with negligible probability and a wrong range or law fails clearly.
 * - Independence: neighbouring images and the two views of `twoViews` draw unrelated parameters.
 * - The view equals the fixed ops composed by hand, image by image, with the drawn parameters, in the
 *   order of reference §2.3 (crop → flip → jitter in the drawn order → grayscale → blur → clip): 1e-6.
 * - Each preset resolves to the recipe of reference §1.1.
 */
import * as tf from "@tensorflow/tfjs-core"
import { randomUniform, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import {
  adjustBrightness,
  adjustBrightnessAdditive,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  augmentPresets,
  centerCrop,
  flipLeftRight,
  gaussianBlur,
  resizedCrop,
  rgbToGrayscale,
  simclrView,
  twoViews,
  type ColorConfig,
  type ViewConfig
} from "../src/index.ts"
import { drawViewPlan, resolveViewConfig, type ViewPlan } from "../src/simclrView.ts"
import { expectProportion, ksBound, ksUniform } from "./stats.ts"

const planOf = (config: ViewConfig | "official" | "torchvision" | "cifar10", batch: number, seed: number, view = 0, input: [number, number] = [64, 64]) =>
  drawViewPlan(resolveViewConfig(config), input, batch, seed, view)

/** Proportion of neighbours (i, i + 1) where both events happen: p² when independent. */
const expectIndependentNeighbours = (events: ReadonlyArray<boolean>, p: number) => {
  let both = 0
  for (let i = 0; i + 1 < events.length; i++) if (events[i] && events[i + 1]) both++
  expectProportion(both, events.length - 1, p * p)
}
/** Proportion of positions where both sequences have the event: p² when independent. */
const expectIndependentPairs = (a: ReadonlyArray<boolean>, b: ReadonlyArray<boolean>, p: number) => {
  expectProportion(a.filter((v, i) => v && b[i]).length, a.length, p * p)
}

/** Whether each crop covers more than half of a 64×64 image. */
const largeBoxes = (p: ViewPlan) => p.boxes!.map(([, , h, w]) => h * w > 0.5 * 64 * 64)

/** One image through the fixed ops, scalars only, in the reference order. */
const byHand = (image: tf.Tensor4D, config: ViewConfig, plan: ViewPlan, b: number): tf.Tensor4D =>
  tf.tidy(() => {
    const crop = config.crop as { method: "bilinear" | "bicubic"; style?: "tf" | "torchvision" }
    let x = resizedCrop(image, plan.boxes![b]!, config.size, { method: crop.method, style: crop.style ?? "tf" })
    if (plan.flip[b]) x = flipLeftRight(x)
    const color = config.color as Exclude<ViewConfig["color"], false | undefined>
    const p = plan.color![b]!
    const style = color.style ?? "tf"
    const apply = [
      (t: tf.Tensor4D) => (color.brightness === "additive" ? adjustBrightnessAdditive(t, p.factors[0]!) : adjustBrightness(t, p.factors[0]!)),
      (t: tf.Tensor4D) => adjustContrast(t, p.factors[1]!, { style }),
      (t: tf.Tensor4D) => adjustSaturation(t, p.factors[2]!, { style }),
      (t: tf.Tensor4D) => adjustHue(t, p.factors[3]!)
    ]
    if (p.jitter) for (const op of p.order) x = apply[op]!(x)
    if (p.gray) x = rgbToGrayscale(x)
    const blur = config.blur as Exclude<ViewConfig["blur"], false | undefined>
    const q = plan.blur!.images[b]!
    if (q.on) x = gaussianBlur(x, { kernelSize: plan.blur!.kernelSize, sigma: q.sigma, padding: blur.padding ?? "reflect" })
    return tf.clipByValue(x, 0, 1)
  })

const colorOnly = (color: ColorConfig): ViewConfig => ({ size: [8, 8], crop: false, flip: 0, color, blur: false })

describe("the colour draws (reference §2.3)", () => {
  const n = 20_000

  for (const strength of [1, 0.5]) {
    it(`strength ${strength}: brightness, contrast, saturation factors ~ U[1 − 0.8·s, 1 + 0.8·s], hue ~ U[−0.2·s, 0.2·s]`, () => {
      const plans = planOf(colorOnly({ strength }), n, 1).color!
      const [lo, hi] = [1 - 0.8 * strength, 1 + 0.8 * strength]
      for (const op of [0, 1, 2]) {
        const factors = plans.map((p) => p.factors[op]!)
        expect(Math.min(...factors)).toBeGreaterThanOrEqual(lo)
        expect(Math.max(...factors)).toBeLessThan(hi)
        expect(ksUniform(factors, lo, hi)).toBeLessThan(ksBound(n))
      }
      const hues = plans.map((p) => p.factors[3]!)
      expect(Math.min(...hues)).toBeGreaterThanOrEqual(-0.2 * strength)
      expect(Math.max(...hues)).toBeLessThan(0.2 * strength)
      expect(ksUniform(hues, -0.2 * strength, 0.2 * strength)).toBeLessThan(ksBound(n))
    })
  }

  it("additive (v1) brightness: δ ~ U[−0.8·s, 0.8·s]", () => {
    const deltas = planOf(colorOnly({ strength: 0.5, brightness: "additive" }), n, 2).color!.map((p) => p.factors[0]!)
    expect(Math.min(...deltas)).toBeGreaterThanOrEqual(-0.4)
    expect(Math.max(...deltas)).toBeLessThan(0.4)
    expect(ksUniform(deltas, -0.4, 0.4)).toBeLessThan(ksBound(n))
  })

  it("the jitter order is uniform over the 24 orders per image; randomOrder: false keeps brightness, contrast, saturation, hue", () => {
    const m = 24_000
    const counts = new Map<string, number>()
    for (const p of planOf(colorOnly({}), m, 3).color!) counts.set(p.order.join(""), (counts.get(p.order.join("")) ?? 0) + 1)
    expect(counts.size).toBe(24)
    for (const count of counts.values()) expectProportion(count, m, 1 / 24)
    for (const p of planOf(colorOnly({ randomOrder: false }), 100, 3).color!) expect(p.order).toEqual([0, 1, 2, 3])
  })
})

describe("the blur draws (reference §2.4)", () => {
  it("σ ~ U(0.1, 2.0) per image, or one σ for the whole batch", () => {
    const n = 20_000
    const own = planOf({ size: [32, 32], crop: false, flip: 0, color: false, blur: { sigmaPer: "image" } }, n, 4).blur!
    const sigmas = own.images.map((b) => b.sigma)
    expect(Math.min(...sigmas)).toBeGreaterThanOrEqual(0.1)
    expect(Math.max(...sigmas)).toBeLessThan(2)
    expect(ksUniform(sigmas, 0.1, 2)).toBeLessThan(ksBound(n))
    expect(own.kernelSize).toBe(3)
    // One σ per batch: identical within a batch, uniform across batches (500 batches of 4).
    const shared = Array.from({ length: 500 }, (_v, seed) => planOf("official", 4, seed).blur!)
    for (const b of shared) expect(new Set(b.images.map((i) => i.sigma)).size).toBe(1)
    expect(ksUniform(shared.map((b) => b.images[0]!.sigma), 0.1, 2)).toBeLessThan(ksBound(500))
    expect(shared[0]!.kernelSize).toBe(23)
  })
})

describe("independence", () => {
  const n = 20_000

  it("neighbouring images draw their flip, jitter, grayscale and blur independently", () => {
    const plan = planOf("torchvision", n, 5)
    expect(plan.flip.length).toBe(n)
    expectIndependentNeighbours(plan.flip, 0.5)
    expectIndependentNeighbours(plan.color!.map((p) => p.jitter), 0.8)
    expectIndependentNeighbours(plan.color!.map((p) => p.gray), 0.2)
    expectIndependentNeighbours(plan.blur!.images.map((b) => b.on), 0.5)
    // Factors of neighbours: the sign of (f − 1) agrees half the time.
    const brighter = plan.color!.map((p) => p.factors[0]! > 1)
    expectIndependentNeighbours(brighter, 0.5)
  })

  it("the two views of twoViews draw independently (views 1 and 2)", () => {
    const [a, b] = [planOf("torchvision", n, 6, 1), planOf("torchvision", n, 6, 2)]
    expect(a.flip).not.toEqual(b.flip)
    expectIndependentPairs(a.flip, b.flip, 0.5)
    expectIndependentPairs(a.color!.map((p) => p.jitter), b.color!.map((p) => p.jitter), 0.8)
    expectIndependentPairs(a.blur!.images.map((x) => x.on), b.blur!.images.map((x) => x.on), 0.5)
    const [large, largeB] = [largeBoxes(a), largeBoxes(b)]
    const q = large.filter(Boolean).length / n
    expectProportion(large.filter((v, i) => v && largeB[i]).length, n, q * q)
  })
})

describe("the crop draws of a view", () => {
  it("tf sampler: the aspect ratio is uniform on [3/4, 4/3] (small boxes, never rejected)", () => {
    const n = 20_000
    const boxes = planOf({ size: [32, 32], crop: { sampler: "tf", area: [0.1, 0.2] }, flip: 0, color: false, blur: false }, n, 7, 0, [4000, 4000]).boxes!
    // Rounding w = round(h·r) at h ≥ 1264 moves r by ≤ 4e-4.
    expect(ksUniform(boxes.map(([, , h, w]) => w / h), 3 / 4, 4 / 3)).toBeLessThan(ksBound(n) + 1e-3)
  })

  it("tf sampler: the ratio range is scaled by the output's width / height, as official", () => {
    const boxes = planOf({ size: [16, 32], crop: { sampler: "tf" }, flip: 0, color: false, blur: false }, 2000, 8, 0, [400, 400]).boxes!
    const ratios = boxes.filter(([, , h, w]) => h < 400 || w < 400).map(([, , h, w]) => w / h)
    expect(ratios.length).toBeGreaterThan(1000)
    for (const r of ratios) {
      expect(r).toBeGreaterThanOrEqual(1.5 - 0.02)
      expect(r).toBeLessThanOrEqual(8 / 3 + 0.02)
    }
    // Without the scaling no ratio would exceed 4/3.
    expect(ratios.filter((r) => r > 2).length).toBeGreaterThan(200)
  })

  it("torchvision sampler: boxes follow the view's own seed stream, not the tf one", () => {
    const tv = planOf("torchvision", 50, 9).boxes!
    const tfBoxes = planOf("official", 50, 9).boxes!
    expect(tv).not.toEqual(tfBoxes)
    expect(planOf("torchvision", 50, 9).boxes).toEqual(tv)
  })
})

describe("a view is the fixed ops composed with its drawn parameters", () => {
  useLeakCheck()

  for (const name of ["official", "torchvision"] as const) {
    it(`preset "${name}" at 24 px from 40×36 images, both views of twoViews`, () => {
      const batch = 16
      const images = randomUniform([batch, 40, 36, 3], 10) as tf.Tensor4D
      const config = augmentPresets[name](24)
      const views = twoViews(images, config, 77)
      views.forEach((view, v) => {
        const plan = drawViewPlan(resolveViewConfig(config), [40, 36], batch, 77, v + 1)
        // Every branch is exercised: some images jittered, some gray, some blurred, some flipped.
        expect(plan.color!.some((p) => p.jitter) && plan.color!.some((p) => p.gray)).toBe(true)
        expect(plan.blur!.images.some((q) => q.on) && plan.flip.some(Boolean)).toBe(true)
        const expected = tf.tidy(() =>
          tf.concat(Array.from({ length: batch }, (_v, b) => byHand(tf.slice(images, [b, 0, 0, 0], [1, -1, -1, -1]), config, plan, b)))
        )
        expect(view).toBeAllclose(expected, { rtol: 0, atol: 1e-6 })
        expected.dispose()
      })
      tf.dispose([images, ...views])
    })
  }

  it("eval: centre crop of 87.5 % above 32 px, a plain bicubic resize at ≤ 32 px (official)", () => {
    const images = randomUniform([2, 40, 40, 3], 11) as tf.Tensor4D
    const big = simclrView(images, augmentPresets.eval(36), 1)
    const bigRef = centerCrop(images, [36, 36], { cropProportion: 0.875 })
    const small = simclrView(images, augmentPresets.eval(32), 1)
    const smallRef = resizedCrop(images, [0, 0, 40, 40], [32, 32], { method: "bicubic" })
    const cropped = centerCrop(images, [32, 32], { cropProportion: 0.875 })
    expect(big).toBeAllclose(bigRef, { rtol: 0, atol: 1e-6 })
    expect(small).toBeAllclose(smallRef, { rtol: 0, atol: 1e-6 })
    // and the two differ, so the rule is observable
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(smallRef, cropped))).dataSync()[0]!)).toBeGreaterThan(1e-3)
    tf.dispose([images, big, bigRef, small, smallRef, cropped])
  })
})

describe("presets resolve to the reference recipes (§1.1, §2.2–2.4)", () => {
  it("official: TF crop sampler (area [0.08, 1], ratio [3/4, 4/3], 10 % coverage, 100 attempts), bicubic TF, flip 0.5, TF colour s = 1 multiplicative, blur p 0.5 one σ per batch in [0.1, 2], zero padding, 10 % kernel", () => {
    const r = resolveViewConfig("official")
    expect(r.size).toEqual([224, 224])
    expect(r.crop).toEqual({ sampler: "tf", area: [0.08, 1], ratio: [3 / 4, 4 / 3], minObjectCovered: 0.1, maxAttempts: 100, method: "bicubic", style: "tf" })
    expect(r.flip).toBe(0.5)
    expect(r.color).toEqual({ strength: 1, p: 0.8, grayscaleP: 0.2, brightness: "multiplicative", style: "tf", randomOrder: true })
    expect(r.blur).toEqual({ p: 0.5, sigma: [0.1, 2], kernelFraction: 0.1, padding: "zero", sigmaPer: "batch" })
  })

  it("torchvision (lightly / solo-learn): RandomResizedCrop (10 attempts), bilinear, torchvision colour, blur σ per image with reflect padding", () => {
    const r = resolveViewConfig("torchvision")
    expect(r.crop).toEqual({ sampler: "torchvision", area: [0.08, 1], ratio: [3 / 4, 4 / 3], minObjectCovered: 0.1, maxAttempts: 10, method: "bilinear", style: "torchvision" })
    expect(r.color).toEqual({ strength: 1, p: 0.8, grayscaleP: 0.2, brightness: "multiplicative", style: "torchvision", randomOrder: true })
    expect(r.blur).toEqual({ p: 0.5, sigma: [0.1, 2], kernelFraction: 0.1, padding: "reflect", sigmaPer: "image" })
  })

  it("cifar10: 32 px, official crop, colour strength 0.5, no blur; finetune: crop + flip only; eval: centre crop, nothing random", () => {
    const c = resolveViewConfig("cifar10")
    expect(c.size).toEqual([32, 32])
    expect(c.crop).toMatchObject({ sampler: "tf", method: "bicubic" })
    expect(c.color).toMatchObject({ strength: 0.5, style: "tf" })
    expect(c.blur).toBe(false)
    const f = resolveViewConfig(augmentPresets.finetune(96))
    expect([f.size, f.flip, f.color, f.blur]).toEqual([[96, 96], 0.5, false, false])
    expect(f.crop).toMatchObject({ sampler: "tf", method: "bicubic" })
    const e = resolveViewConfig("eval")
    expect([e.crop, e.flip, e.color, e.blur]).toEqual(["center", 0, false, false])
  })
})
