/**
 * The consumer side: batches become tensors here, and only here.
 *
 * @since 0.1.0
 */
import { twoViews, type PresetName, type ViewConfig } from "@simclr/augment"
import * as tf from "@tensorflow/tfjs-core"
import { Stream } from "effect"
import { dual } from "effect/Function"
import type { ImageBatch } from "./imageBatches.ts"
import { Random } from "@simclr/core"

/**
 * A batch as tensors on the active tfjs backend: `images` is float32 NHWC in [0, 1] (bytes / 255);
 * `labels` is int32 (−1 = unlabeled) when the source has labels. The caller disposes both.
 *
 * @category tensors
 * @since 0.1.0
 */
export const toTensors = (batch: ImageBatch): { readonly images: tf.Tensor4D; readonly labels: tf.Tensor1D | undefined } => {
  const values = new Float32Array(batch.images.length)
  for (let i = 0; i < values.length; i++) values[i] = batch.images[i]! / 255
  return {
    images: tf.tensor4d(values, [batch.size, batch.height, batch.width, 3], "float32"),
    labels: batch.labels === undefined ? undefined : tf.tensor1d(batch.labels, "int32")
  }
}

/**
 * The augmentation seed of a batch: a function of the stream seed, the epoch and the batch's first
 * position only, so a resumed run draws the same views as an uninterrupted one.
 *
 * @category tensors
 * @since 0.1.0
 */
export const batchSeed = (batch: Pick<ImageBatch, "epoch" | "start" | "position">, seed: number = batch.position.seed): number => {
  const random = new Random(seed, (Math.imul(batch.epoch, 0x9e3779b1) ^ batch.start) >>> 0)
  return random.nextUint32() * 2048 + (random.nextUint32() >>> 21)
}

/**
 * Two augmented views of a batch, as SimCLR's loss takes them.
 *
 * @category models
 * @since 0.1.0
 */
export interface TwoViewBatch {
  /** float32 NHWC, the first augmented view of every image. */
  readonly view1: tf.Tensor4D
  readonly view2: tf.Tensor4D
  readonly labels: tf.Tensor1D | undefined
  /** The byte batch the views came from (its position, ids, skipped files and counts). */
  readonly batch: ImageBatch
  /** The seed `twoViews` used. */
  readonly seed: number
  /** Frees the three tensors. */
  readonly dispose: () => void
}

/**
 * Makes the two views of one batch with `@simclr/augment`'s `twoViews` (on the active backend).
 *
 * @category tensors
 * @since 0.1.0
 */
export const makeTwoViews = (batch: ImageBatch, augment: ViewConfig | PresetName, seed?: number): TwoViewBatch => {
  const s = batchSeed(batch, seed)
  const { images, labels } = toTensors(batch)
  let views: [tf.Tensor4D, tf.Tensor4D]
  try {
    views = twoViews(images, augment, s)
  } catch (error) {
    labels?.dispose()
    throw error
  } finally {
    images.dispose()
  }
  const [view1, view2] = views
  return { view1, view2, labels, batch, seed: s, dispose: () => tf.dispose([view1, view2, ...(labels === undefined ? [] : [labels])]) }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface TwoViewOptions {
  /** A `ViewConfig` or a preset name of `@simclr/augment` (`"official"`, `"torchvision"`, `"cifar10"`, …). */
  readonly augment: ViewConfig | PresetName
  /** Seeds the views; default the stream's seed. Each batch's seed also depends on its epoch and position. */
  readonly seed?: number | undefined
}

/**
 * Maps a stream of byte batches to two-view tensor batches. The tensors are made when the consumer
 * pulls each batch (after the prefetch buffer), so at most the batch in hand holds tensors; the consumer
 * calls `dispose()` when done. Do not buffer this stream further.
 *
 * @category tensors
 * @since 0.1.0
 */
export const twoViewBatches: {
  (options: TwoViewOptions): <E, R>(self: Stream.Stream<ImageBatch, E, R>) => Stream.Stream<TwoViewBatch, E, R>
  <E, R>(self: Stream.Stream<ImageBatch, E, R>, options: TwoViewOptions): Stream.Stream<TwoViewBatch, E, R>
} = dual(2, <E, R>(self: Stream.Stream<ImageBatch, E, R>, options: TwoViewOptions): Stream.Stream<TwoViewBatch, E, R> =>
  Stream.map(self, (b) => makeTwoViews(b, options.augment, options.seed)))
