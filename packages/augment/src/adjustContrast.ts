import * as tf from "@tensorflow/tfjs-core"
import { assertImages, knownKeys, oneOf, perImage, perImageTensor } from "@simclr/core"
import { luma } from "./rgbToGrayscale.ts"

/**
 * Which reference's semantics a colour op follows: `"tf"` (TensorFlow, the official SimCLR code) or
 * `"torchvision"` (lightly, solo-learn, sthalles).
 *
 * @since 0.1.0
 * @category models
 */
export type ColorStyle = "tf" | "torchvision"

export const COLOR_STYLES: ReadonlyArray<ColorStyle> = ["tf", "torchvision"]

/**
 * Contrast, clipped to [0, 1]: clip((x − μ)·factor + μ, 0, 1).
 * - `style: "tf"` (default): μ is the mean of each channel of each image (TF `adjust_contrast`; the
 *   official code clips after it).
 * - `style: "torchvision"`: μ is the mean of the image's grayscale (one scalar for all channels).
 *
 * @param factor ≥ 0: one number for the batch or one per image (1 = unchanged).
 * @since 0.1.0
 * @category augmentations
 */
export const adjustContrast = (
  images: tf.Tensor,
  factor: number | ReadonlyArray<number>,
  options: { readonly style?: ColorStyle } = {}
): tf.Tensor4D => {
  const o = knownKeys("options", options, ["style"])
  const style = oneOf("options.style", o["style"], COLOR_STYLES, "tf")
  assertImages("images", images, style === "torchvision" ? [3] : undefined)
  const f = perImage("factor", factor, images.shape[0], (v) => (v < 0 ? "must be ≥ 0" : undefined))
  return tf.tidy((): tf.Tensor4D => {
    const mean = style === "tf" ? tf.mean(images, [1, 2], true) : tf.mean(luma(images), [1, 2, 3], true)
    const out = tf.add(tf.mul(tf.sub(images, mean), perImageTensor(f)), mean)
    return tf.clipByValue(out, 0, 1) as tf.Tensor4D
  })
}
