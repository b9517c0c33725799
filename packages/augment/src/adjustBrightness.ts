import * as tf from "@tensorflow/tfjs-core"
import { assertImages, perImage, perImageTensor } from "@simclr/core"

/**
 * Multiplicative brightness, clipped: clip(x · factor, 0, 1). The SimCLR v2 form (official
 * `impl='simclrv2'`, the default) and torchvision's `adjust_brightness`.
 *
 * @param factor ≥ 0: one number for the batch or one per image.
 * @since 0.1.0
 * @category augmentations
 */
export const adjustBrightness = (images: tf.Tensor, factor: number | ReadonlyArray<number>): tf.Tensor4D => {
  assertImages("images", images)
  const f = perImage("factor", factor, images.shape[0], (v) => (v < 0 ? "must be ≥ 0" : undefined))
  return tf.tidy(() => tf.clipByValue(tf.mul(images, perImageTensor(f)), 0, 1))
}

/**
 * Additive brightness, clipped: clip(x + delta, 0, 1). The SimCLR v1 form (official `impl='simclrv1'`,
 * TF `random_brightness`).
 *
 * @param delta one number for the batch or one per image.
 * @since 0.1.0
 * @category augmentations
 */
export const adjustBrightnessAdditive = (images: tf.Tensor, delta: number | ReadonlyArray<number>): tf.Tensor4D => {
  assertImages("images", images)
  const d = perImage("delta", delta, images.shape[0])
  return tf.tidy(() => tf.clipByValue(tf.add(images, perImageTensor(d)), 0, 1))
}
