import * as tf from "@tensorflow/tfjs-core"
import { type Box, resizedCrop, type ResizedCropOptions } from "./resizedCrop.ts"
import { roundHalfEven } from "./internal/resample.ts"
import { assertImages, imageSize, knownKeys, numberIn } from "@simclr/core"

/** The official evaluation crop keeps 87.5 % of the shorter side (`CROP_PROPORTION`). */
export const CROP_PROPORTION = 0.875

/**
 * @since 0.1.0
 * @category models
 */
export interface CenterCropOptions extends ResizedCropOptions {
  /** Fraction of the image kept, on the side that limits the requested aspect ratio. Default 0.875. */
  readonly cropProportion?: number
}

/**
 * The official SimCLR centre-crop box (`_compute_crop_shape`, `center_crop`): the largest box of the
 * requested aspect ratio scaled by `cropProportion`, rounded half-to-even, offset ((H − h) + 1) // 2.
 *
 * @since 0.1.0
 * @category augmentations
 */
export const centerCropBox = (imageHeight: number, imageWidth: number, size: readonly [number, number], cropProportion = CROP_PROPORTION): Box => {
  const aspect = size[1] / size[0]
  const [h, w] =
    aspect > imageWidth / imageHeight
      ? [roundHalfEven((cropProportion / aspect) * imageWidth), roundHalfEven(cropProportion * imageWidth)]
      : [roundHalfEven(cropProportion * imageHeight), roundHalfEven(cropProportion * aspect * imageHeight)]
  const height = Math.min(Math.max(h, 1), imageHeight)
  const width = Math.min(Math.max(w, 1), imageWidth)
  return [Math.floor((imageHeight - height + 1) / 2), Math.floor((imageWidth - width + 1) / 2), height, width]
}

/**
 * Evaluation preprocessing of the official code: crop the centre box ({@link centerCropBox}, 87.5 % of
 * the shorter side, aspect preserved) and resize it to `size`, bicubic in TF style by default, clipped
 * to [0, 1]. The official code skips this at ≤ 32 px (CIFAR); the `eval` preset does too.
 *
 * @since 0.1.0
 * @category augmentations
 */
export const centerCrop = (images: tf.Tensor, size: readonly [number, number], options: CenterCropOptions = {}): tf.Tensor4D => {
  assertImages("images", images)
  const o = knownKeys("options", options, ["cropProportion", "method", "style"])
  const target = imageSize("size", size)
  const proportion = numberIn("options.cropProportion", o["cropProportion"], CROP_PROPORTION, [0, 1], { openMin: true })
  const box = centerCropBox(images.shape[1], images.shape[2], target, proportion)
  const { cropProportion: _unused, ...resize } = { method: "bicubic" as const, style: "tf" as const, ...options }
  return resizedCrop(images, box, target, resize)
}
