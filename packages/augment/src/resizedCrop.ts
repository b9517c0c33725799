import * as tf from "@tensorflow/tfjs-core"
import { assertImages, describe, imageSize, InvalidArgumentError, knownKeys, oneOf } from "@simclr/core"
import { axisTaps, type Interpolation, resampleAxis, type ResampleStyle } from "./internal/resample.ts"

/**
 * An integer crop box: [top, left, height, width] in pixels.
 *
 * @since 0.1.0
 * @category models
 */
export type Box = readonly [top: number, left: number, height: number, width: number]

/**
 * @since 0.1.0
 * @category models
 */
export interface ResizedCropOptions {
  /** `"bilinear"` (default; lightly, sthalles) or `"bicubic"` (official SimCLR, solo-learn). */
  readonly method?: Interpolation
  /**
   * Bicubic flavour (bilinear is the same in both): `"tf"` (default) = TF2 `tf.image.resize` bicubic
   * (Keys a = −0.5, table-quantised, taps outside the crop dropped and renormalised); `"torchvision"` =
   * torch `interpolate` bicubic (a = −0.75, edge pixels repeated).
   */
  readonly style?: ResampleStyle
}

const METHODS: ReadonlyArray<Interpolation> = ["bilinear", "bicubic"]
const STYLES: ReadonlyArray<ResampleStyle> = ["tf", "torchvision"]

const isBox = (b: unknown): b is Box => Array.isArray(b) && b.length === 4 && b.every((v) => typeof v === "number")

/** @internal */
export const validateBoxes = (boxes: unknown, batch: number, height: number, width: number): Array<Box> => {
  const list: Array<Box> | undefined = isBox(boxes)
    ? Array.from({ length: batch }, () => boxes)
    : Array.isArray(boxes) && boxes.every(isBox)
      ? (boxes as Array<Box>)
      : undefined
  if (list === undefined) {
    throw new InvalidArgumentError("boxes", `expected one [top, left, height, width] box or one per image, got ${describe(boxes)}`)
  }
  if (list.length !== batch) throw new InvalidArgumentError("boxes", `expected ${batch} boxes (one per image), got ${list.length}`)
  list.forEach(([top, left, h, w], i) => {
    const ok =
      [top, left, h, w].every(Number.isInteger) && top >= 0 && left >= 0 && h >= 1 && w >= 1 && top + h <= height && left + w <= width
    if (!ok) {
      throw new InvalidArgumentError(
        "boxes",
        `box ${i} [${top}, ${left}, ${h}, ${w}] must be integers with height, width ≥ 1 inside the ${height}×${width} image`
      )
    }
  })
  return list
}

/**
 * Crops an integer box from each image and resizes it to `size` with half-pixel-centre sampling and no
 * antialiasing: torchvision `resized_crop(..., antialias=False)` / TF2 `tf.image.resize(crop, size)`.
 * Sampling is confined to the box (edges repeat at the box border, as when cropping first), unlike
 * `tf.image.cropAndResize`, whose grid differs. Bicubic output is clipped to [0, 1].
 *
 * @param boxes one [top, left, height, width] for every image, or one per image.
 * @param size [height, width] of the output.
 * @since 0.1.0
 * @category augmentations
 */
export const resizedCrop = (
  images: tf.Tensor,
  boxes: Box | ReadonlyArray<Box>,
  size: readonly [number, number],
  options: ResizedCropOptions = {}
): tf.Tensor4D => {
  assertImages("images", images)
  const o = knownKeys("options", options, ["method", "style"])
  const method = oneOf("options.method", o["method"], METHODS, "bilinear")
  const style = oneOf("options.style", o["style"], STYLES, "tf")
  const [outH, outW] = imageSize("size", size)
  const [batch, height, width] = images.shape
  const list = validateBoxes(boxes, batch, height, width)
  const rows = list.map(([top, , h]) => axisTaps(top, h, outH, method, style))
  const cols = list.map(([, left, , w]) => axisTaps(left, w, outW, method, style))
  return tf.tidy(() => {
    const resized = resampleAxis(resampleAxis(images, 1, rows, outH), 2, cols, outW)
    return method === "bicubic" ? tf.clipByValue(resized, 0, 1) : resized
  })
}
