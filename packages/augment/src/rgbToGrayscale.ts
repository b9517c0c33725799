import * as tf from "@tensorflow/tfjs-core"
import { assertImages } from "@simclr/core"

/** ITU-R 601-2 luma weights used by TF `rgb_to_grayscale` and torchvision `rgb_to_grayscale`. */
export const GRAYSCALE_WEIGHTS = [0.2989, 0.587, 0.114] as const

/** @internal luma as one channel, [B, H, W, 1] */
export const luma = (images: tf.Tensor4D): tf.Tensor4D =>
  tf.sum(tf.mul(images, tf.tensor1d(GRAYSCALE_WEIGHTS as unknown as Array<number>)), 3, true) as tf.Tensor4D

/**
 * Grayscale with three equal channels: 0.2989 R + 0.587 G + 0.114 B (SimCLR's colour drop).
 *
 * @example
 * ```ts
 * const gray = rgbToGrayscale(images) // [B, H, W, 3]
 * ```
 *
 * @since 0.1.0
 * @category augmentations
 */
export const rgbToGrayscale = (images: tf.Tensor): tf.Tensor4D => {
  assertImages("images", images, [3])
  // Broadcasting against ones is several times faster than tf.tile on the wasm backend.
  return tf.tidy(() => tf.mul(luma(images), tf.ones([1, 1, 1, 3])) as tf.Tensor4D)
}
