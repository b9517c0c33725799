import * as tf from "@tensorflow/tfjs-core"
import { adjustBrightness, adjustBrightnessAdditive } from "./adjustBrightness.ts"
import { adjustContrast, type ColorStyle, COLOR_STYLES } from "./adjustContrast.ts"
import { adjustHue } from "./adjustHue.ts"
import { adjustSaturation } from "./adjustSaturation.ts"
import { centerCrop, CROP_PROPORTION } from "./centerCrop.ts"
import { flipLeftRight } from "./flipLeftRight.ts"
import { type BlurPadding, gaussianBlur } from "./gaussianBlur.ts"
import { augmentPresets, type PresetName, PRESET_NAMES } from "./presets.ts"
import { type Box, resizedCrop } from "./resizedCrop.ts"
import { rgbToGrayscale } from "./rgbToGrayscale.ts"
import { type CropSamplerOptions, resolveSampler, SAMPLER_KEYS, sampleCropBoxWith } from "./sampleCropBox.ts"
import { assertImages, booleanOption, describe, imageSize, InvalidArgumentError, knownKeys, numberIn, oneOf, Random, seedOf } from "@simclr/core"
import { applyToSubset } from "./internal/subset.ts"
import type { Interpolation, ResampleStyle } from "./internal/resample.ts"

/**
 * Random resized crop of a view.
 *
 * @since 0.1.0
 * @category models
 */
export interface RandomCropConfig extends CropSamplerOptions {
  /** Default `"bicubic"` with `style` "tf" (official), `"bilinear"` for the torchvision preset. */
  readonly method?: Interpolation
  readonly style?: ResampleStyle
}

/**
 * Colour distortion of a view (reference §2.3): with probability `p` jitter brightness, contrast,
 * saturation and hue in a random order per image, each clipped to [0, 1]; then, independently, grayscale
 * with probability `grayscaleP`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ColorConfig {
  /** s: brightness, contrast, saturation ranges 0.8·s, hue range 0.2·s. Default 1 (CIFAR-10 recipe: 0.5). */
  readonly strength?: number
  /** Probability of the jitter. Default 0.8. */
  readonly p?: number
  /** Probability of grayscale, drawn after the jitter. Default 0.2. */
  readonly grayscaleP?: number
  /** `"multiplicative"` (default; official SimCLR v2, torchvision) or `"additive"` (SimCLR v1). */
  readonly brightness?: "multiplicative" | "additive"
  /** Contrast and saturation semantics. Default `"tf"`. */
  readonly style?: ColorStyle
  /** Random order of the four ops per image (default true; the official `color_jitter_nonrand` is false). */
  readonly randomOrder?: boolean
}

/**
 * Gaussian blur of a view: with probability `p` per image, σ ~ U(sigma), kernel of
 * 2·⌊⌊side·kernelFraction⌋ / 2⌋ + 1 taps (23 at 224 px, as official).
 *
 * @since 0.1.0
 * @category models
 */
export interface BlurConfig {
  /** Default 0.5. */
  readonly p?: number
  /** Range of σ in pixels. Default [0.1, 2.0]. */
  readonly sigma?: readonly [number, number]
  /** Kernel size as a fraction of the output's shorter side. Default 0.1. */
  readonly kernelFraction?: number
  /** Default `"reflect"` (torchvision); the official code uses `"zero"`. */
  readonly padding?: BlurPadding
  /** One σ per image (default; torchvision) or one per batch (`"batch"`, the official code). */
  readonly sigmaPer?: "image" | "batch"
}

/**
 * Everything one SimCLR view does to a batch. `augmentPresets` has the reference recipes.
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewConfig {
  /** Output [height, width]. */
  readonly size: readonly [number, number]
  /**
   * A random resized crop (default), `"center"` for the evaluation crop ({@link centerCrop}; at ≤ 32 px
   * the image is only resized, as the official code skips the crop there), or `false` for a plain resize.
   */
  readonly crop?: RandomCropConfig | "center" | false
  /** Probability of a horizontal flip. Default 0.5. */
  readonly flip?: number
  readonly color?: ColorConfig | false
  readonly blur?: BlurConfig | false
  /**
   * Check that the input lies in [0, 1] (one small read-back per call; catches 0–255 pixels). Default true.
   */
  readonly validateRange?: boolean
}

const STREAM = { crop: 1, flip: 2, color: 3, blur: 4 } as const

/** @internal the validated configuration */
export interface Resolved {
  readonly size: [number, number]
  readonly crop: "center" | false | (ReturnType<typeof resolveSampler> & { method: Interpolation; style: ResampleStyle })
  readonly flip: number
  readonly color: false | Required<ColorConfig>
  readonly blur: false | Required<BlurConfig>
  readonly validateRange: boolean
}

const probability = (name: string, value: unknown, fallback: number) => numberIn(name, value, fallback, [0, 1])

/** @internal */
export const resolveViewConfig = (config: unknown): Resolved => {
  if (typeof config === "string") {
    const name = oneOf("config", config, PRESET_NAMES, "official")
    return resolveViewConfig(augmentPresets[name]())
  }
  const c = knownKeys("config", config, ["size", "crop", "flip", "color", "blur", "validateRange"])
  if (c["size"] === undefined) throw new InvalidArgumentError("config.size", "is required: the output [height, width]")
  const size = imageSize("config.size", c["size"])
  let crop: Resolved["crop"]
  if (c["crop"] === "center" || c["crop"] === false) crop = c["crop"]
  else {
    const o = knownKeys("config.crop", c["crop"] ?? {}, [...SAMPLER_KEYS, "method", "style"])
    crop = {
      ...resolveSampler("config.crop", o),
      method: oneOf("config.crop.method", o["method"], ["bilinear", "bicubic"], "bicubic"),
      style: oneOf("config.crop.style", o["style"], ["tf", "torchvision"], "tf")
    }
  }
  let color: Resolved["color"] = false
  if (c["color"] !== false) {
    const o = knownKeys("config.color", c["color"] ?? {}, ["strength", "p", "grayscaleP", "brightness", "style", "randomOrder"])
    color = {
      strength: numberIn("config.color.strength", o["strength"], 1, [0, 2.5]),
      p: probability("config.color.p", o["p"], 0.8),
      grayscaleP: probability("config.color.grayscaleP", o["grayscaleP"], 0.2),
      brightness: oneOf("config.color.brightness", o["brightness"], ["multiplicative", "additive"], "multiplicative"),
      style: oneOf("config.color.style", o["style"], COLOR_STYLES, "tf"),
      randomOrder: booleanOption("config.color.randomOrder", o["randomOrder"], true)
    }
  }
  let blur: Resolved["blur"] = false
  if (c["blur"] !== false) {
    const o = knownKeys("config.blur", c["blur"] ?? {}, ["p", "sigma", "kernelFraction", "padding", "sigmaPer"])
    const sigma = o["sigma"] ?? [0.1, 2]
    if (!Array.isArray(sigma) || sigma.length !== 2 || !(sigma[0] > 0) || !(sigma[1] >= sigma[0]) || !Number.isFinite(sigma[1])) {
      throw new InvalidArgumentError("config.blur.sigma", `expected [min, max] with 0 < min ≤ max, got ${describe(sigma)}`)
    }
    blur = {
      p: probability("config.blur.p", o["p"], 0.5),
      sigma: [sigma[0], sigma[1]],
      kernelFraction: numberIn("config.blur.kernelFraction", o["kernelFraction"], 0.1, [0, 1]),
      padding: oneOf("config.blur.padding", o["padding"], ["reflect", "zero"], "reflect"),
      sigmaPer: oneOf("config.blur.sigmaPer", o["sigmaPer"], ["image", "batch"], "image")
    }
  }
  return {
    size,
    crop,
    flip: probability("config.flip", c["flip"], 0.5),
    color,
    blur,
    validateRange: booleanOption("config.validateRange", c["validateRange"], true)
  }
}

/** Taps of the official blur: kernel_size = ⌊side·fraction⌋, radius = ⌊kernel_size / 2⌋, 2·radius + 1 taps. */
export const blurKernelSize = (side: number, fraction = 0.1): number => 2 * Math.floor(Math.floor(side * fraction) / 2) + 1

const jitterOps = (color: Required<ColorConfig>) => {
  const s = color.strength
  const b = 0.8 * s
  const c = 0.8 * s
  const sat = 0.8 * s
  const hue = Math.min(0.2 * s, 0.5)
  return [
    b > 0 && {
      draw: (r: Random) => (color.brightness === "additive" ? r.between(-b, b) : r.between(Math.max(1 - b, 0), 1 + b)),
      apply: (x: tf.Tensor4D, f: Array<number>) => (color.brightness === "additive" ? adjustBrightnessAdditive(x, f) : adjustBrightness(x, f))
    },
    c > 0 && {
      draw: (r: Random) => r.between(Math.max(1 - c, 0), 1 + c),
      apply: (x: tf.Tensor4D, f: Array<number>) => adjustContrast(x, f, { style: color.style })
    },
    sat > 0 && {
      draw: (r: Random) => r.between(Math.max(1 - sat, 0), 1 + sat),
      apply: (x: tf.Tensor4D, f: Array<number>) => adjustSaturation(x, f, { style: color.style })
    },
    hue > 0 && {
      draw: (r: Random) => r.between(-hue, hue),
      apply: (x: tf.Tensor4D, f: Array<number>) => adjustHue(x, f)
    }
  ] as const
}

/**
 * @internal Every random draw of one view as plain numbers, made in JavaScript before any tensor op (so
 * the same seed gives the same parameters on every backend). `makeView` only applies it; the tests check
 * the distributions here.
 */
export interface ViewPlan {
  /** The crop box per image, when the view crops at random. */
  readonly boxes: ReadonlyArray<Box> | undefined
  /** Flip per image (empty when the flip probability is 0). */
  readonly flip: ReadonlyArray<boolean>
  /** Per image: jitter on, the order of [brightness, contrast, saturation, hue], their factors, grayscale on. */
  readonly color:
    | ReadonlyArray<{ readonly jitter: boolean; readonly order: ReadonlyArray<number>; readonly factors: ReadonlyArray<number>; readonly gray: boolean }>
    | undefined
  /** Per image: blur on and its σ; the kernel's taps. */
  readonly blur: { readonly kernelSize: number; readonly images: ReadonlyArray<{ readonly on: boolean; readonly sigma: number }> } | undefined
}

/** @internal */
export const drawViewPlan = (r: Resolved, [H, W]: readonly [number, number], batch: number, seed: number, view: number): ViewPlan => {
  const [outH, outW] = r.size
  const stream = (stage: number) => new Random(seed, view * 16 + stage)
  const perImage = <A>(draw: () => A): Array<A> => Array.from({ length: batch }, draw)

  let boxes: Array<Box> | undefined
  if (r.crop !== "center" && r.crop !== false) {
    const crop = r.crop
    const random = stream(STREAM.crop)
    // The official code scales the aspect-ratio range by the output's width / height.
    const sampler = crop.sampler === "tf" ? { ...crop, ratio: [crop.ratio[0] * (outW / outH), crop.ratio[1] * (outW / outH)] as const } : crop
    boxes = perImage(() => sampleCropBoxWith(H, W, sampler, random))
  }

  let flip: Array<boolean> = []
  if (r.flip > 0) {
    const random = stream(STREAM.flip)
    flip = perImage(() => random.bernoulli(r.flip))
  }

  let color: ViewPlan["color"]
  if (r.color !== false) {
    const config = r.color
    const random = stream(STREAM.color)
    const ops = jitterOps(config)
    color = perImage(() => {
      const jitter = random.bernoulli(config.p)
      const order = config.randomOrder ? random.permutation(4) : [0, 1, 2, 3]
      const factors = ops.map((op) => (op === false ? 0 : op.draw(random)))
      const gray = random.bernoulli(config.grayscaleP)
      return { jitter, order, factors, gray }
    })
  }

  let blur: ViewPlan["blur"]
  if (r.blur !== false && r.blur.p > 0) {
    const config = r.blur
    const random = stream(STREAM.blur)
    const shared = random.between(config.sigma[0], config.sigma[1])
    blur = {
      kernelSize: blurKernelSize(Math.min(outH, outW), config.kernelFraction),
      images: perImage(() => ({
        on: random.bernoulli(config.p),
        sigma: config.sigmaPer === "batch" ? shared : random.between(config.sigma[0], config.sigma[1])
      }))
    }
  }
  return { boxes, flip, color, blur }
}

const makeView = (images: tf.Tensor4D, r: Resolved, plan: ViewPlan): tf.Tensor4D => {
  let x: tf.Tensor4D = images.shape[3] === 1 ? (tf.mul(images, tf.ones([1, 1, 1, 3])) as tf.Tensor4D) : images
  // Checked inputs are in [0, 1] already; unchecked ones are clipped before any op sees them.
  if (!r.validateRange) x = tf.clipByValue(x, 0, 1)
  const whole: Box = [0, 0, x.shape[1], x.shape[2]]

  // 1. Crop and resize to the output size.
  if (r.crop === "center") {
    x = Math.max(...r.size) <= 32 ? resizedCrop(x, whole, r.size, { method: "bicubic" }) : centerCrop(x, r.size, { cropProportion: CROP_PROPORTION })
  } else if (r.crop === false) {
    x = resizedCrop(x, whole, r.size, { method: "bilinear" })
  } else {
    x = resizedCrop(x, plan.boxes!, r.size, { method: r.crop.method, style: r.crop.style })
  }

  // 2. Horizontal flip.
  if (plan.flip.some(Boolean)) x = flipLeftRight(x, plan.flip)

  // 3. Colour: jitter (p), random order per image, then grayscale (grayscaleP).
  if (r.color !== false && plan.color !== undefined) {
    const plans = plan.color
    const ops = jitterOps(r.color)
    for (let position = 0; position < 4; position++) {
      ops.forEach((op, opIndex) => {
        if (op === false) return
        const members = plans.flatMap((p, b) => (p.jitter && p.order[position] === opIndex ? [b] : []))
        x = applyToSubset(x, members, (subset, rows) => op.apply(subset, rows.map((b) => plans[b]!.factors[opIndex]!)))
      })
    }
    const grays = plans.flatMap((p, b) => (p.gray ? [b] : []))
    x = applyToSubset(x, grays, (subset) => rgbToGrayscale(subset))
  }

  // 4. Gaussian blur (p per image; σ per image or per batch).
  if (r.blur !== false && plan.blur !== undefined && plan.blur.kernelSize > 1) {
    const { kernelSize, images: plans } = plan.blur
    const padding = r.blur.padding
    const members = plans.flatMap((p, b) => (p.on ? [b] : []))
    x = applyToSubset(x, members, (subset, rows) => gaussianBlur(subset, { kernelSize, sigma: rows.map((b) => plans[b]!.sigma), padding }))
  }
  return tf.clipByValue(x, 0, 1)
}

const prepare = (images: unknown, config: unknown, seed: unknown): Resolved => {
  assertImages("images", images, [1, 3])
  seedOf("seed", seed)
  const resolved = resolveViewConfig(config)
  if (resolved.validateRange) {
    const [min, max] = tf.tidy(() => [tf.min(images), tf.max(images)]).map((t) => {
      const v = t.dataSync()[0]!
      t.dispose()
      return v
    }) as [number, number]
    if (!(min >= 0 && max <= 1)) {
      throw new InvalidArgumentError(
        "images",
        `values must lie in [0, 1], found [${min}, ${max}]` + (max > 1 && max <= 255 ? " (8-bit pixels? divide by 255)" : "") +
          "; set config.validateRange: false to clip instead"
      )
    }
  }
  return resolved
}

/**
 * One SimCLR view of a batch: random resized crop → horizontal flip → colour jitter (random order) →
 * grayscale → Gaussian blur → clip to [0, 1], each image drawing its own parameters from `seed`.
 * `config` is a preset name (`"official"`, `"torchvision"`, `"cifar10"`, `"finetune"`, `"eval"`) or a
 * {@link ViewConfig} (see `augmentPresets`). Input: NHWC float32 in [0, 1], RGB or 1-channel (tiled to
 * RGB). Same images, config and seed → same view; the random draws happen in JavaScript, so they are
 * identical on every backend.
 *
 * @example
 * ```ts
 * const view = simclrView(images, augmentPresets.cifar10(), 42)
 * ```
 *
 * @since 0.1.0
 * @category augmentations
 */
export const simclrView = (images: tf.Tensor, config: ViewConfig | PresetName, seed: number): tf.Tensor4D => {
  const resolved = prepare(images, config, seed)
  const x = images as tf.Tensor4D
  return tf.tidy(() => makeView(x, resolved, drawViewPlan(resolved, [x.shape[1], x.shape[2]], x.shape[0], seed, 0)))
}

/**
 * The two views of SimCLR: two independent draws of {@link simclrView} from one seed.
 *
 * @example
 * ```ts
 * const [v1, v2] = twoViews(images, "cifar10", step)
 * const loss = ntXent(model.apply(v1), model.apply(v2))
 * ```
 *
 * @since 0.1.0
 * @category augmentations
 */
export const twoViews = (images: tf.Tensor, config: ViewConfig | PresetName, seed: number): [tf.Tensor4D, tf.Tensor4D] => {
  const resolved = prepare(images, config, seed)
  const x = images as tf.Tensor4D
  const plan = (view: number) => drawViewPlan(resolved, [x.shape[1], x.shape[2]], x.shape[0], seed, view)
  return tf.tidy(() => [makeView(x, resolved, plan(1)), makeView(x, resolved, plan(2))])
}
