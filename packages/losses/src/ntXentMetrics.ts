import * as tf from "@tensorflow/tfjs-core"
import { l2Normalize } from "./internal/normalize.ts"
import { type NtXentOptions, resolveNtXent } from "./ntXent.ts"

/**
 * The official contrastive metrics (google-research/simclr `tf2/metrics.py`).
 *
 * @since 0.1.0
 * @category models
 */
export type NtXentMetrics = {
  /** Fraction of view-1 anchors whose most similar view-2 row is their own positive. */
  readonly accuracy: tf.Scalar
  /** Mean entropy −Σ p·log(p + 1e-8) of the softmax over the view-1 × view-2 logits. */
  readonly entropy: tf.Scalar
}

/**
 * Contrastive accuracy and entropy as the official code logs them while pre-training: both read the
 * cross-view logits ẑ1·ẑ2ᵀ/τ (the `logits_ab` block), so `reduction` and `negatives` do not enter; the
 * options object of {@link ntXent} can be passed as is. Returns two scalars the caller disposes.
 *
 * @example
 * ```ts
 * const { accuracy, entropy } = ntXentMetrics(z1, z2, { temperature: 0.5 })
 * console.log(accuracy.dataSync()[0], entropy.dataSync()[0])
 * tf.dispose([accuracy, entropy])
 * ```
 *
 * @since 0.1.0
 * @category losses
 */
export const ntXentMetrics = (z1: tf.Tensor, z2: tf.Tensor, options: NtXentOptions = {}): NtXentMetrics => {
  const { z1: a, z2: b, temperature, normalize } = resolveNtXent(z1, z2, options)
  return tf.tidy(() => {
    const h1 = normalize ? l2Normalize(a).unit : a
    const h2 = normalize ? l2Normalize(b).unit : b
    const logits = tf.div(tf.matMul(h1, h2, false, true), temperature)
    const labels = tf.range(0, a.shape[0], 1, "int32")
    const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), labels), "float32")) as tf.Scalar
    const p = tf.softmax(logits)
    const entropy = tf.neg(tf.mean(tf.sum(tf.mul(p, tf.log(tf.add(p, 1e-8))), 1))) as tf.Scalar
    return { accuracy, entropy }
  })
}
