/**
 * Features of every image of a source through a model in inference mode (batch norm with its moving
 * statistics), in the source's order: what linear evaluation, kNN and `simclr embed` consume.
 *
 * @since 0.1.0
 */
import { type DataStreamError, imageBatches, type SourceLike, toTensors } from "@simclr/data-stream"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { Effect, Stream } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export interface Features {
  /** Row-major [count, dim]. */
  readonly values: Float32Array
  readonly count: number
  readonly dim: number
  /** −1 for unlabeled images; `undefined` when the source has no labels. */
  readonly labels: Int32Array | undefined
  readonly classes: ReadonlyArray<string> | undefined
  readonly ids: ReadonlyArray<string>
  /** Images the source could not decode (skipped). */
  readonly skipped: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ExtractOptions {
  /** The model's input size; images are decoded straight to it (the official evaluation resizes at ≤ 32 px). */
  readonly imageSize: number
  /** Default 256. */
  readonly batchSize?: number
  /** Which output of a multi-output model (a `simclrModel` gives [h, ft, z]); default 0. */
  readonly output?: number
  /** Images decoded at once; default 4. */
  readonly concurrency?: number
  /** Decode cache file; default none. */
  readonly cache?: string
}

/**
 * Runs every image of `source` (in order, once) through `model` in inference mode and collects one
 * feature row per image. `model` may also be a plain function of the image batch (NHWC in [0, 1]), e.g.
 * `(x) => x` for raw pixels.
 *
 * @category evaluation
 * @since 0.1.0
 */
export const extractFeatures = <E>(
  model: tfl.LayersModel | ((images: tf.Tensor4D) => tf.Tensor),
  source: SourceLike<E>,
  options: ExtractOptions
): Effect.Effect<Features, E | DataStreamError> =>
  Effect.gen(function*() {
    const rows: Array<Float32Array> = []
    const labels: Array<number> = []
    const ids: Array<string> = []
    let labeled = false
    let classes: ReadonlyArray<string> | undefined
    let skipped = 0
    let dim = 0
    const output = options.output ?? 0
    yield* Stream.runForEach(
      imageBatches(source, {
        batchSize: options.batchSize ?? 256,
        imageSize: options.imageSize,
        shuffle: false,
        concurrency: options.concurrency ?? 4,
        ...(options.cache === undefined ? {} : { cache: options.cache })
      }),
      (batch) =>
        Effect.sync(() => {
          const { images, labels: batchLabels } = toTensors(batch)
          const features = tf.tidy(() => {
            const out = typeof model === "function" ? model(images) : model.predict(images, { batchSize: batch.size })
            const chosen = Array.isArray(out) ? out[output]! : out
            return tf.reshape(chosen, [batch.size, -1])
          })
          dim = features.shape[1]!
          rows.push(features.dataSync() as Float32Array)
          tf.dispose([images, features, ...(batchLabels === undefined ? [] : [batchLabels])])
          if (batch.labels !== undefined) {
            labeled = true
            labels.push(...batch.labels)
          }
          classes = batch.classes
          ids.push(...batch.ids)
          skipped = batch.stats.skipped
        })
    )
    const count = ids.length
    const values = new Float32Array(count * dim)
    let at = 0
    for (const r of rows) {
      values.set(r, at)
      at += r.length
    }
    return { values, count, dim, labels: labeled ? Int32Array.from(labels) : undefined, classes, ids, skipped }
  })
