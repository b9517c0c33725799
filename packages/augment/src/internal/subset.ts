import * as tf from "@tensorflow/tfjs-core"

/**
 * Per-image slices beat a batch-axis gather by ~40× on the cpu backend of tfjs 4.22, and lose by ~2× on
 * wasm (where slices and concats cross into the module one by one); measured at 64 × 224² × 3.
 */
const slicesAreFast = (): boolean => tf.getBackend() === "cpu"

/** The images at `indices`, in that order, as per-image slices (the cpu path of `applyToSubset`). */
const takeImages = (images: tf.Tensor4D, indices: ReadonlyArray<number>): tf.Tensor4D =>
  tf.tidy(() => {
    if (indices.length === 1) return tf.slice(images, [indices[0]!, 0, 0, 0], [1, -1, -1, -1])
    return tf.concat(
      indices.map((i) => tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1])),
      0
    ) as tf.Tensor4D
  })

/**
 * Applies `fn` to the listed images only and returns the batch in its original order. `fn` gets a batch
 * and, for each of its rows, the index of that image in `images` (so it can look up per-image
 * parameters); it must treat every image independently.
 *
 * On the cpu backend the listed images are sliced out, transformed and stacked back. Elsewhere a
 * batch-axis gather is slow (wasm's GatherV2 took ~17 ms per call at 128 × 32² × 3, 1.1 s of a 1.4 s
 * colour distortion), so `fn` runs on the whole batch and a per-image 0/1 blend keeps the unlisted images:
 * more arithmetic, no gathers, the same values.
 */
export const applyToSubset = (
  images: tf.Tensor4D,
  indices: ReadonlyArray<number>,
  fn: (subset: tf.Tensor4D, rows: ReadonlyArray<number>) => tf.Tensor4D
): tf.Tensor4D => {
  const batch = images.shape[0]
  if (indices.length === 0) return images
  const all = Array.from({ length: batch }, (_v, i) => i)
  if (indices.length === batch && indices.every((v, i) => v === i)) return fn(images, all)
  return tf.tidy(() => {
    if (!slicesAreFast()) {
      // y·m + x·(1 − m) with m ∈ {0, 1} per image is exact (products by 0 and 1 and sums with 0 are), and
      // broadcasts in the binary ops; tf.where would tile the mask to full size first (wasm's Tile is slow).
      const chosen = new Set(indices)
      const mask = tf.tensor4d(all.map((i) => (chosen.has(i) ? 1 : 0)), [batch, 1, 1, 1])
      return tf.add(tf.mul(fn(images, all), mask), tf.mul(images, tf.sub(1, mask))) as tf.Tensor4D
    }
    const parts = tf.unstack(fn(takeImages(images, indices), indices))
    const byImage = new Map(indices.map((original, position) => [original, parts[position]!]))
    return tf.stack(tf.unstack(images).map((image, i) => byImage.get(i) ?? image)) as tf.Tensor4D
  })
}
