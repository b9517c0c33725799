/**
 * The crop samplers over many draws: boxes stay inside the image and in range, and follow the documented
 * distributions (TF: height uniform for a given aspect ratio; torchvision: area uniform, log aspect ratio
 * uniform). Statistical bounds are 5 σ (or Kolmogorov–Smirnov at α ≈ 1e-6), so a correct sampler fails
 * them with negligible probability while a wrong distribution fails clearly.
 */
import { describe, expect, it } from "vitest"
import { type Box, InvalidArgumentError, sampleCropBoxes } from "../src/index.ts"
import { ksStatistic, uniformCdf } from "./stats.ts"

const inside = ([top, left, h, w]: Box, H: number, W: number) =>
  Number.isInteger(top) && Number.isInteger(left) && h >= 1 && w >= 1 && top >= 0 && left >= 0 && top + h <= H && left + w <= W

describe("sampleCropBoxes, tf sampler (sample_distorted_bounding_box)", () => {
  const H = 224
  const W = 224
  const boxes = sampleCropBoxes(20_000, [H, W], { seed: 1, sampler: "tf" })

  it("keeps boxes inside the image, with ≥ 10 % coverage and aspect ratio within rounding of [3/4, 4/3]", () => {
    for (const b of boxes) {
      expect(inside(b, H, W)).toBe(true)
      const area = (b[2] * b[3]) / (H * W)
      expect(area).toBeGreaterThanOrEqual(0.1)
      expect(area).toBeLessThanOrEqual(1)
      // width = round(height · r): r ∈ [3/4, 4/3] ± 0.5 / height.
      const r = b[3] / b[2]
      expect(r).toBeGreaterThanOrEqual(3 / 4 - 0.5 / b[2] - 1e-9)
      expect(r).toBeLessThanOrEqual(4 / 3 + 0.5 / b[2] + 1e-9)
    }
  })

  it("draws heights uniformly for a fixed aspect ratio (the TF kernel samples height, not area)", () => {
    const square = sampleCropBoxes(20_000, [H, W], { seed: 2, sampler: "tf", ratio: [1, 1] })
    // h ∈ [round(√(0.08·H·W)), H] = [63, 224]; coverage ≥ 0.1 rejects h < 70.8, so h ~ U{71 … 224}.
    const heights = square.map((b) => b[2])
    expect(Math.min(...heights)).toBe(71)
    expect(Math.max(...heights)).toBe(224)
    const d = ksStatistic(heights, uniformCdf(70, 224))
    expect(d).toBeLessThan(2.65 / Math.sqrt(heights.length) + 1 / 154)
    // An area-uniform sampler would put far fewer boxes below the median height.
    const belowMid = heights.filter((h) => h < 147.5).length / heights.length
    expect(Math.abs(belowMid - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / heights.length))
  })

  it("draws offsets from [0, H − h), never H − h itself (the kernel's Uniform(H − h))", () => {
    const small = sampleCropBoxes(5_000, [20, 20], { seed: 3, sampler: "tf", area: [0.25, 0.25], ratio: [1, 1] })
    for (const [top, left, h, w] of small) {
      expect(h).toBe(10)
      expect(w).toBe(10)
      expect(top).toBeLessThan(10)
      expect(left).toBeLessThan(10)
    }
    expect(new Set(small.map((b) => b[0])).size).toBe(10)
  })

  it("falls back to the whole image when no attempt succeeds", () => {
    const impossible = sampleCropBoxes(50, [30, 30], { seed: 4, sampler: "tf", area: [0.9, 1], ratio: [4, 5] })
    for (const b of impossible) expect(b).toEqual([0, 0, 30, 30])
  })
})

describe("sampleCropBoxes, torchvision sampler (RandomResizedCrop)", () => {
  it("draws areas uniformly in [0.08, 1] of the image", () => {
    const n = 20_000
    const boxes = sampleCropBoxes(n, [1000, 1000], { seed: 5, sampler: "torchvision", ratio: [1, 1] })
    const areas = boxes.map(([, , h, w]) => (h * w) / 1e6)
    for (const b of boxes) expect(inside(b, 1000, 1000)).toBe(true)
    // Rounding h and w moves an area by ≤ ~0.002 here; allow that on top of the KS bound.
    const d = ksStatistic(areas, uniformCdf(0.08, 1))
    expect(d).toBeLessThan(2.65 / Math.sqrt(n) + 0.003)
  })

  it("draws log aspect ratios uniformly in [log 3/4, log 4/3]", () => {
    const n = 20_000
    const boxes = sampleCropBoxes(n, [2000, 2000], { seed: 6, sampler: "torchvision", area: [0.2, 0.2] })
    const logs = boxes.map(([, , h, w]) => Math.log(w / h))
    const [lo, hi] = [Math.log(3 / 4), Math.log(4 / 3)]
    const d = ksStatistic(logs, uniformCdf(lo, hi))
    expect(d).toBeLessThan(2.65 / Math.sqrt(n) + 0.005)
  })

  it("draws offsets from [0, H − h] inclusive", () => {
    const boxes = sampleCropBoxes(5_000, [20, 20], { seed: 7, sampler: "torchvision", area: [0.25, 0.25], ratio: [1, 1] })
    expect(new Set(boxes.map((b) => b[0]))).toEqual(new Set(Array.from({ length: 11 }, (_v, i) => i)))
  })

  it("falls back to a centre crop clamped to the ratio range", () => {
    // A 10 × 100 strip cannot hold any area ≥ 0.9 with ratio ≤ 4/3: centre crop of width round(10 · 4/3) = 13.
    const boxes = sampleCropBoxes(20, [10, 100], { seed: 8, sampler: "torchvision", area: [0.9, 1] })
    for (const b of boxes) expect(b).toEqual([0, 43, 10, 13])
  })
})

describe("sampleCropBoxes determinism and errors", () => {
  it("same seed → same boxes; another seed → other boxes", () => {
    const a = sampleCropBoxes(100, [64, 48], { seed: 9 })
    expect(sampleCropBoxes(100, [64, 48], { seed: 9 })).toEqual(a)
    expect(sampleCropBoxes(100, [64, 48], { seed: 10 })).not.toEqual(a)
  })

  it("names bad options", () => {
    expect(() => sampleCropBoxes(1, [10, 10], { seed: 1, sampler: "pil" as never })).toThrow(/^options\.sampler: must be one of "tf", "torchvision"; got "pil"/)
    expect(() => sampleCropBoxes(1, [10, 10], { seed: 1, area: [0.5, 0.1] })).toThrow(/^options\.area: expected \[min, max\] with 0 < min ≤ max ≤ 1/)
    expect(() => sampleCropBoxes(1, [10, 0], { seed: 1 })).toThrow(/^size: expected \[height, width\] of positive integers/)
    expect(() => sampleCropBoxes(1, [10, 10], {} as never)).toThrow(InvalidArgumentError)
    expect(() => sampleCropBoxes(1, [10, 10], {} as never)).toThrow(/^options\.seed: expected an integer seed, got undefined/)
  })
})
