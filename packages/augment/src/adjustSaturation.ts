import * as tf from "@tensorflow/tfjs-core"
import { type ColorStyle, COLOR_STYLES } from "./adjustContrast.ts"
import { hsvToRgb, rgbToHsv } from "./internal/hsv.ts"
import { assertImages, knownKeys, oneOf, perImage, perImageTensor } from "@simclr/core"
import { luma } from "./rgbToGrayscale.ts"

/**
 * Saturation, clipped to [0, 1].
 * - `style: "tf"` (default): scale S in HSV, S ← clip(S·factor, 0, 1) (TF `adjust_saturation`).
 * - `style: "torchvision"`: blend with the grayscale image, clip(factor·x + (1 − factor)·gray, 0, 1).
 *
 * @param factor ≥ 0: one number for the batch or one per image (0 = gray, 1 = unchanged).
 * @since 0.1.0
 * @category augmentations
 */
export const adjustSaturation = (
  images: tf.Tensor,
  factor: number | ReadonlyArray<number>,
  options: { readonly style?: ColorStyle } = {}
): tf.Tensor4D => {
  const o = knownKeys("options", options, ["style"])
  const style = oneOf("options.style", o["style"], COLOR_STYLES, "tf")
  assertImages("images", images, [3])
  const f = perImage("factor", factor, images.shape[0], (v) => (v < 0 ? "must be ≥ 0" : undefined))
  return tf.tidy(() => {
    const k = perImageTensor(f)
    if (style === "torchvision") {
      const gray = luma(images)
      return tf.clipByValue(tf.add(tf.mul(images, k), tf.mul(gray, tf.sub(1, k))), 0, 1)
    }
    const { h, s, v } = rgbToHsv(images)
    return tf.clipByValue(hsvToRgb({ h, s: tf.clipByValue(tf.mul(s, k), 0, 1), v }), 0, 1)
  })
}
