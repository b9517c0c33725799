import * as tf from "@tensorflow/tfjs-core"
import { hsvToRgb, rgbToHsv } from "./internal/hsv.ts"
import { assertImages, perImage, perImageTensor } from "@simclr/core"

/**
 * Hue rotation: RGB → HSV, H ← (H + delta) mod 1, HSV → RGB (TF `adjust_hue` and torchvision
 * `adjust_hue` agree). Grays, black and white are unchanged.
 *
 * @param delta in turns, [−0.5, 0.5]: one number for the batch or one per image.
 * @since 0.1.0
 * @category augmentations
 */
export const adjustHue = (images: tf.Tensor, delta: number | ReadonlyArray<number>): tf.Tensor4D => {
  assertImages("images", images, [3])
  const d = perImage("delta", delta, images.shape[0], (v) => (v < -0.5 || v > 0.5 ? "must be in [-0.5, 0.5] (turns)" : undefined))
  return tf.tidy(() => {
    const { h, s, v } = rgbToHsv(images)
    const shifted = tf.add(h, perImageTensor(d))
    const wrapped = tf.sub(shifted, tf.floor(shifted))
    return tf.clipByValue(hsvToRgb({ h: wrapped, s, v }), 0, 1)
  })
}
