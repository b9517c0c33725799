import * as tf from "@tensorflow/tfjs-core"
import { assertImages, InvalidArgumentError, knownKeys, numberIn, oneOf, perImage } from "@simclr/core"

/**
 * @since 0.1.0
 * @category models
 */
export type BlurPadding = "reflect" | "zero"

/**
 * @since 0.1.0
 * @category models
 */
export interface GaussianBlurOptions {
  /** Taps per axis, odd, ≥ 1 (official: 2·⌊(image side / 10) / 2⌋ + 1, i.e. 23 at 224 px). */
  readonly kernelSize: number
  /** σ > 0 in pixels: one for the batch or one per image. */
  readonly sigma: number | ReadonlyArray<number>
  /**
   * `"reflect"` (default): mirror without repeating the edge pixel (torchvision `gaussian_blur`);
   * `"zero"`: zeros outside the image, TF "SAME" (the official SimCLR `gaussian_blur`), which darkens
   * borders.
   */
  readonly padding?: BlurPadding
}

const PADDINGS: ReadonlyArray<BlurPadding> = ["reflect", "zero"]

/** The normalised 1-D Gaussian exp(−x²/2σ²), x = −r…r (torchvision and official agree for odd sizes). */
export const gaussianKernel1d = (kernelSize: number, sigma: number): Float64Array => {
  const radius = (kernelSize - 1) / 2
  const out = new Float64Array(kernelSize)
  let sum = 0
  for (let i = 0; i < kernelSize; i++) {
    const x = i - radius
    out[i] = Math.exp(-(x * x) / (2 * sigma * sigma))
    sum += out[i]!
  }
  for (let i = 0; i < kernelSize; i++) out[i]! /= sum
  return out
}

/**
 * Separable Gaussian blur, one σ per image allowed. Images stay in [0, 1] (a convex combination).
 *
 * @example
 * ```ts
 * const blurred = gaussianBlur(images, { kernelSize: 23, sigma: [0.5, 1.7], padding: "reflect" })
 * ```
 *
 * @since 0.1.0
 * @category augmentations
 */
export const gaussianBlur = (images: tf.Tensor, options: GaussianBlurOptions): tf.Tensor4D => {
  assertImages("images", images)
  const o = knownKeys("options", options, ["kernelSize", "sigma", "padding"])
  if (o["kernelSize"] === undefined) throw new InvalidArgumentError("options.kernelSize", "is required (an odd number of taps ≥ 1)")
  const kernelSize = numberIn("options.kernelSize", o["kernelSize"], 1, [1, 4095], { integer: true })
  if (kernelSize % 2 === 0) throw new InvalidArgumentError("options.kernelSize", `must be odd, got ${kernelSize}`)
  const [batch, height, width, channels] = images.shape
  const sigmas = perImage("options.sigma", o["sigma"], batch, (v) => (v <= 0 ? "must be > 0" : undefined))
  const padding = oneOf("options.padding", o["padding"], PADDINGS, "reflect")
  const radius = (kernelSize - 1) / 2
  if (padding === "reflect" && (radius >= height || radius >= width)) {
    throw new InvalidArgumentError(
      "options.kernelSize",
      `reflect padding needs a radius smaller than the image: kernel ${kernelSize} (radius ${radius}) on ${height}×${width} images`
    )
  }
  if (kernelSize === 1) return tf.clone(images) as tf.Tensor4D
  // Fold the batch into channels so one depthwise convolution applies each image's own kernel.
  const depth = batch * channels
  const taps = new Float32Array(kernelSize * depth)
  sigmas.forEach((sigma, b) => {
    const k = gaussianKernel1d(kernelSize, sigma)
    for (let i = 0; i < kernelSize; i++) for (let c = 0; c < channels; c++) taps[i * depth + b * channels + c] = k[i]!
  })
  return tf.tidy(() => {
    let x = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, height, width, depth]) as tf.Tensor4D
    const vertical = tf.tensor4d(taps, [kernelSize, 1, depth, 1])
    const horizontal = tf.tensor4d(taps, [1, kernelSize, depth, 1])
    if (padding === "reflect") {
      x = tf.mirrorPad(x, [[0, 0], [radius, radius], [0, 0], [0, 0]], "reflect")
      x = tf.depthwiseConv2d(x, vertical, 1, "valid")
      x = tf.mirrorPad(x, [[0, 0], [0, 0], [radius, radius], [0, 0]], "reflect")
      x = tf.depthwiseConv2d(x, horizontal, 1, "valid")
    } else {
      x = tf.depthwiseConv2d(x, vertical, 1, "same")
      x = tf.depthwiseConv2d(x, horizontal, 1, "same")
    }
    return tf.transpose(tf.reshape(x, [height, width, batch, channels]), [2, 0, 1, 3]) as tf.Tensor4D
  })
}
