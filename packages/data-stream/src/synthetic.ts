/**
 * The built-in synthetic dataset: procedurally drawn shapes and textures, ten classes told apart by
 * shape alone (colours, sizes, positions and rotations are random and independent of the class). It
 * ships no files, renders at any resolution, and is the same for the same seed everywhere.
 *
 * @since 0.1.0
 */
import { InvalidOptionError } from "./DataStreamError.ts"
import { fingerprintOf } from "./internal/fingerprint.ts"
import { renderSynthetic, SYNTHETIC_CLASSES } from "./internal/renderSynthetic.ts"
import type { IndexedSource } from "./Source.ts"

export { SYNTHETIC_CLASSES }

/**
 * @category models
 * @since 0.1.0
 */
export interface SyntheticOptions {
  /** Number of images, ≥ 1. Image i has label i mod classes, so classes are exactly balanced. */
  readonly size: number
  /** Default 0. Image i depends on (seed, i) only. */
  readonly seed?: number | undefined
  /** Number of classes, 2–10 (the first ones of `SYNTHETIC_CLASSES`); default 10. */
  readonly classes?: number | undefined
  /**
   * The resolution images are drawn at when no size is requested (a batch stream draws them directly at
   * its `imageSize`); default 32.
   */
  readonly imageSize?: number | readonly [height: number, width: number] | undefined
  /**
   * Largest rotation of a shape from upright, in degrees: 180 (default) draws any angle, 0 keeps every
   * shape upright. SimCLR's augmentations (crops, flips, colour) remove position, size and colour but not
   * rotation, so upright shapes leave the shape as what tells two images apart.
   */
  readonly maxRotation?: number | undefined
  /**
   * `"gray"`: the shape and background colours are replaced by their luminance (same shapes, same
   * contrast). Colour is already independent of the class; gray images also take it away as a cue for
   * telling two images apart, which is what a short contrastive pre-training latches onto first. Default
   * `"rgb"`.
   */
  readonly color?: "rgb" | "gray" | undefined
}

/**
 * A labeled, procedurally generated dataset for demos, tests and benchmarks. Throws
 * `InvalidOptionError` for a bad option.
 *
 * @category sources
 * @since 0.1.0
 */
export const synthetic = (options: SyntheticOptions): IndexedSource => {
  const { size } = options
  const seed = options.seed ?? 0
  const classes = options.classes ?? 10
  const imageSize = options.imageSize ?? 32
  const maxRotation = options.maxRotation ?? 180
  const color = options.color ?? "rgb"
  const [height, width] = typeof imageSize === "number" ? [imageSize, imageSize] : imageSize
  if (!Number.isInteger(size) || size < 1) throw new InvalidOptionError({ option: "size", reason: `got ${size}; allowed: an integer ≥ 1` })
  if (!Number.isSafeInteger(seed) || seed < 0) throw new InvalidOptionError({ option: "seed", reason: `got ${seed}; allowed: an integer ≥ 0` })
  if (!Number.isInteger(classes) || classes < 2 || classes > SYNTHETIC_CLASSES.length) {
    throw new InvalidOptionError({ option: "classes", reason: `got ${classes}; allowed: an integer from 2 to ${SYNTHETIC_CLASSES.length}` })
  }
  if (color !== "rgb" && color !== "gray") throw new InvalidOptionError({ option: "color", reason: `got ${JSON.stringify(color)}; allowed: "rgb", "gray"` })
  if (!(typeof maxRotation === "number" && maxRotation >= 0 && maxRotation <= 180)) {
    throw new InvalidOptionError({ option: "maxRotation", reason: `got ${maxRotation}; allowed: degrees from 0 (upright) to 180 (any angle)` })
  }
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 8 || width < 8) {
    throw new InvalidOptionError({ option: "imageSize", reason: `got ${JSON.stringify(imageSize)}; allowed: an integer ≥ 8 or [height, width] of integers ≥ 8` })
  }
  return {
    _tag: "IndexedSource",
    name: `synthetic (${size} images, ${classes} classes, seed ${seed}${maxRotation === 180 ? "" : `, rotation ≤ ${maxRotation}°`}${color === "gray" ? ", gray" : ""})`,
    size,
    classes: SYNTHETIC_CLASSES.slice(0, classes),
    item: (index) => ({
      id: `synthetic#${index}`,
      label: index % classes,
      image: {
        kind: "lazy",
        render: (target) => {
          const h = Math.max(8, target?.height ?? height)
          const w = Math.max(8, target?.width ?? width)
          return { pixels: renderSynthetic(seed, index, h, w, classes, maxRotation, color === "gray").pixels, height: h, width: w, channels: 3 }
        }
      }
    }),
    // Options at their defaults leave the fingerprint as it was before they existed (caches stay valid).
    fingerprint: () => fingerprintOf("synthetic", seed, size, classes, ...(maxRotation === 180 ? [] : [maxRotation]), ...(color === "rgb" ? [] : ["gray"]))
  }
}
