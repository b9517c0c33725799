import * as tf from "@tensorflow/tfjs-core"
import { assertImages, describe, InvalidArgumentError } from "@simclr/core"
import { applyToSubset } from "./internal/subset.ts"

/**
 * Mirrors images left ↔ right: all of them, or those whose `mask` entry is true (or 1).
 *
 * @param mask one boolean (or 0/1) per image; default: flip every image.
 * @since 0.1.0
 * @category augmentations
 */
export const flipLeftRight = (images: tf.Tensor, mask?: ReadonlyArray<boolean | number>): tf.Tensor4D => {
  assertImages("images", images)
  const batch = images.shape[0]
  if (mask === undefined) return tf.tidy(() => tf.reverse(images, 2))
  if (!Array.isArray(mask) || mask.length !== batch || !mask.every((m) => m === true || m === false || m === 0 || m === 1)) {
    throw new InvalidArgumentError("mask", `expected ${batch} booleans (or 0/1), one per image, got ${describe(mask)}`)
  }
  const flipped = mask.flatMap((m, i) => (m === true || m === 1 ? [i] : []))
  // applyToSubset returns its input when nothing is selected; the caller owns a new tensor either way.
  if (flipped.length === 0) return tf.clone(images) as tf.Tensor4D
  return tf.tidy(() => applyToSubset(images, flipped, (subset) => tf.reverse(subset, 2)))
}
