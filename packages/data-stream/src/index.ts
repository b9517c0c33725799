/**
 * Typed, backpressured image streams for SimCLR: sources (folders, CSV, IDX, CIFAR, arrays, iterables,
 * a synthetic set) → sharp decoding → seeded shuffles → batches of bytes → a bounded prefetch buffer →
 * tensors and two augmented views at the consumer. Built on Effect streams; `toAsyncIterable` serves
 * code that does not use Effect.
 *
 * @since 0.1.0
 */
export {
  type DataStreamError,
  DatasetFormatError,
  DatasetNotFoundError,
  DecodeCacheError,
  EmptyDatasetError,
  ImageDecodeError,
  InvalidOptionError,
  TooManyFailuresError
} from "./DataStreamError.ts"
export { DEFAULT_MAX_PIXELS, decodeImage, type DecodeOptions, type Fit } from "./decodeImage.ts"
export { fromArray, fromIterable, type ImageLike, type LabeledImageLike } from "./fromArray.ts"
export { CIFAR10_CLASSES, type CifarOptions, fromCifar } from "./fromCifar.ts"
export { type CsvOptions, fromCsv, parseCsv } from "./fromCsv.ts"
export { type DirectoryOptions, fromDirectory, fromGlob } from "./fromDirectory.ts"
export { FASHION_MNIST_CLASSES, fromIdx, type IdxArray, type IdxOptions, MNIST_CLASSES, parseIdx } from "./fromIdx.ts"
export {
  epochPermutation,
  type ImageBatch,
  type ImageBatchOptions,
  imageBatches,
  type StreamPosition,
  type StreamStats
} from "./imageBatches.ts"
export { IMAGE_EXTENSIONS } from "./internal/scan.ts"
export type { ImageInput, IndexedSource, RawImage, Source, SourceItem, SourceLike, StreamSource } from "./Source.ts"
export { synthetic, SYNTHETIC_CLASSES, type SyntheticOptions } from "./synthetic.ts"
export { toAsyncIterable } from "./toAsyncIterable.ts"
export { batchSeed, makeTwoViews, toTensors, type TwoViewBatch, twoViewBatches, type TwoViewOptions } from "./toTensors.ts"
