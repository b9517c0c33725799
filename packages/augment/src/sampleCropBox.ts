import type { Box } from "./resizedCrop.ts"
import { describe, imageSize, InvalidArgumentError, knownKeys, numberIn, oneOf, Random, seedOf } from "@simclr/core"
import { roundHalfEven } from "./internal/resample.ts"

/**
 * Which random-crop algorithm draws the boxes.
 * - `"tf"`: TF `sample_distorted_bounding_box` as the official SimCLR code calls it: aspect ratio uniform,
 *   then **height** uniform between the bounds the area range allows, at least `minObjectCovered` (10 %)
 *   of the image, `maxAttempts` (100) tries, else the whole image. Float32 arithmetic and round-half-even
 *   as in the C++ kernel; note its offsets are drawn from [0, H − h), never H − h itself.
 * - `"torchvision"`: `RandomResizedCrop.get_params`: **area** uniform in the range, log aspect ratio
 *   uniform, `maxAttempts` (10) tries, else a centre crop clamped to the ratio range.
 *
 * @since 0.1.0
 * @category models
 */
export type CropSampler = "tf" | "torchvision"

/**
 * @since 0.1.0
 * @category models
 */
export interface CropSamplerOptions {
  /** Default `"tf"`. */
  readonly sampler?: CropSampler
  /** Range of crop area as a fraction of the image. Default [0.08, 1]. */
  readonly area?: readonly [number, number]
  /**
   * Range of crop aspect ratio, width / height. Default [3/4, 4/3]. (The official code multiplies both
   * ends by the output's width / height, 1 for square outputs.)
   */
  readonly ratio?: readonly [number, number]
  /** `"tf"` only: minimum fraction of the image the crop covers. Default 0.1. */
  readonly minObjectCovered?: number
  /** Tries before the fallback. Default 100 (`"tf"`) or 10 (`"torchvision"`). */
  readonly maxAttempts?: number
}

/** @internal validated sampler settings */
export interface ResolvedSampler {
  readonly sampler: CropSampler
  readonly area: readonly [number, number]
  readonly ratio: readonly [number, number]
  readonly minObjectCovered: number
  readonly maxAttempts: number
}

const SAMPLERS: ReadonlyArray<CropSampler> = ["tf", "torchvision"]
export const SAMPLER_KEYS = ["sampler", "area", "ratio", "minObjectCovered", "maxAttempts"] as const

const range = (name: string, value: unknown, fallback: readonly [number, number], max: number): readonly [number, number] => {
  if (value === undefined) return fallback
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    !value.every((v) => typeof v === "number" && Number.isFinite(v) && v > 0 && v <= max) ||
    value[0] > value[1]
  ) {
    throw new InvalidArgumentError(name, `expected [min, max] with 0 < min ≤ max ≤ ${max}, got ${describe(value)}`)
  }
  return [value[0], value[1]]
}

/** @internal */
export const resolveSampler = (name: string, options: Record<string, unknown>): ResolvedSampler => {
  const sampler = oneOf(`${name}.sampler`, options["sampler"], SAMPLERS, "tf")
  return {
    sampler,
    area: range(`${name}.area`, options["area"], [0.08, 1], 1),
    ratio: range(`${name}.ratio`, options["ratio"], [3 / 4, 4 / 3], Number.MAX_VALUE),
    minObjectCovered: numberIn(`${name}.minObjectCovered`, options["minObjectCovered"], 0.1, [0, 1]),
    maxAttempts: numberIn(`${name}.maxAttempts`, options["maxAttempts"], sampler === "tf" ? 100 : 10, [1, 1e6], { integer: true })
  }
}

const f32 = Math.fround

/** One attempt of TF's GenerateRandomCrop; undefined when the constraints cannot be met. */
const tfAttempt = (H: number, W: number, area: readonly [number, number], aspect: number, random: Random): Box | undefined => {
  const minArea = f32(f32(f32(area[0]) * W) * H)
  const maxArea = f32(f32(f32(area[1]) * W) * H)
  let height = roundHalfEven(f32(Math.sqrt(f32(minArea / aspect))))
  let maxHeight = roundHalfEven(f32(Math.sqrt(f32(maxArea / aspect))))
  if (roundHalfEven(f32(maxHeight * aspect)) > W) {
    maxHeight = Math.trunc((W + 0.5 - f32(1e-7)) / aspect)
    if (roundHalfEven(f32(maxHeight * aspect)) > W) maxHeight -= 1
  }
  if (maxHeight > H) maxHeight = H
  if (height >= maxHeight) height = maxHeight
  if (height < maxHeight) height += random.int(maxHeight - height + 1)
  let width = roundHalfEven(f32(height * aspect))
  let boxArea = width * height
  if (boxArea < minArea) {
    height += 1
    width = roundHalfEven(f32(height * aspect))
    boxArea = width * height
  }
  if (boxArea > maxArea) {
    height -= 1
    width = roundHalfEven(f32(height * aspect))
    boxArea = width * height
  }
  if (boxArea < minArea || boxArea > maxArea || width > W || height > H || width <= 0 || height <= 0) return undefined
  const y = height < H ? random.int(H - height) : 0
  const x = width < W ? random.int(W - width) : 0
  return [y, x, height, width]
}

/** @internal one box for an H×W image */
export const sampleCropBoxWith = (H: number, W: number, s: ResolvedSampler, random: Random): Box => {
  if (s.sampler === "tf") {
    for (let attempt = 0; attempt < s.maxAttempts; attempt++) {
      const aspect = f32(f32(f32(random.uniform()) * f32(s.ratio[1] - s.ratio[0])) + f32(s.ratio[0]))
      const box = tfAttempt(H, W, s.area, aspect, random)
      // Coverage of the whole-image bounding box (min_object_covered).
      if (box !== undefined && f32((box[2] * box[3]) / (H * W)) >= f32(s.minObjectCovered)) return box
    }
    return [0, 0, H, W]
  }
  const imageArea = H * W
  const logRatio = [Math.log(s.ratio[0]), Math.log(s.ratio[1])] as const
  for (let attempt = 0; attempt < s.maxAttempts; attempt++) {
    const targetArea = imageArea * random.between(s.area[0], s.area[1])
    const aspect = Math.exp(random.between(logRatio[0], logRatio[1]))
    const w = roundHalfEven(Math.sqrt(targetArea * aspect))
    const h = roundHalfEven(Math.sqrt(targetArea / aspect))
    if (w > 0 && w <= W && h > 0 && h <= H) return [random.int(H - h + 1), random.int(W - w + 1), h, w]
  }
  const inRatio = W / H
  let [h, w] = [H, W]
  if (inRatio < s.ratio[0]) h = roundHalfEven(W / s.ratio[0])
  else if (inRatio > s.ratio[1]) w = roundHalfEven(H * s.ratio[1])
  return [Math.floor((H - h) / 2), Math.floor((W - w) / 2), h, w]
}

/**
 * Draws `count` random crop boxes [top, left, height, width] for an image of `imageSize` [H, W], one
 * after another from the generator seeded by `seed` (same seed → same boxes).
 *
 * @example
 * ```ts
 * const boxes = sampleCropBoxes(256, [32, 32], { seed: 7, sampler: "torchvision" })
 * const crops = resizedCrop(images, boxes, [32, 32])
 * ```
 *
 * @since 0.1.0
 * @category augmentations
 */
export const sampleCropBoxes = (
  count: number,
  size: readonly [number, number],
  options: CropSamplerOptions & { readonly seed: number }
): Array<Box> => {
  const o = knownKeys("options", options, [...SAMPLER_KEYS, "seed"])
  const seed = seedOf("options.seed", o["seed"])
  if (!Number.isInteger(count) || count < 0) throw new InvalidArgumentError("count", `expected an integer ≥ 0, got ${describe(count)}`)
  const [H, W] = imageSize("size", size)
  const s = resolveSampler("options", o)
  const random = new Random(seed)
  return Array.from({ length: count }, () => sampleCropBoxWith(H, W, s, random))
}
