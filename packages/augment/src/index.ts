/**
 * SimCLR augmentations for TensorFlow.js: fixed-parameter ops on NHWC float32 batches in [0, 1] (one
 * parameter per image allowed), seeded samplers, and composed SimCLR views with the reference presets.
 * Pure functions; `@tensorflow/tfjs-core` is a peer dependency.
 *
 * @since 0.1.0
 */
export { adjustBrightness, adjustBrightnessAdditive } from "./adjustBrightness.ts"
export { adjustContrast, type ColorStyle } from "./adjustContrast.ts"
export { adjustHue } from "./adjustHue.ts"
export { adjustSaturation } from "./adjustSaturation.ts"
export { centerCrop, centerCropBox, type CenterCropOptions, CROP_PROPORTION } from "./centerCrop.ts"
export { flipLeftRight } from "./flipLeftRight.ts"
export { type BlurPadding, gaussianBlur, gaussianKernel1d, type GaussianBlurOptions } from "./gaussianBlur.ts"
export { augmentPresets, type PresetName } from "./presets.ts"
export { type Box, resizedCrop, type ResizedCropOptions } from "./resizedCrop.ts"
export { GRAYSCALE_WEIGHTS, rgbToGrayscale } from "./rgbToGrayscale.ts"
export { type CropSampler, type CropSamplerOptions, sampleCropBoxes } from "./sampleCropBox.ts"
export { InvalidArgumentError, SimclrError } from "@simclr/core"
export {
  blurKernelSize,
  type BlurConfig,
  type ColorConfig,
  type RandomCropConfig,
  simclrView,
  twoViews,
  type ViewConfig
} from "./simclrView.ts"
export type { Interpolation, ResampleStyle } from "./internal/resample.ts"
