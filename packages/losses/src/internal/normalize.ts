import * as tf from "@tensorflow/tfjs-core"

/** The epsilon of `tf.math.l2_normalize` (and so of the official code): rows scale by 1/√max(Σx², ε). */
export const L2_EPSILON = 1e-12

export interface Normalized {
  /** x / √max(Σx², ε), row-wise. */
  readonly unit: tf.Tensor2D
  /** 1 / √max(Σx², ε), shape [rows, 1]. */
  readonly invNorm: tf.Tensor2D
  /** 1 where Σx² > ε (the norm depends on x), else 0; shape [rows, 1]. */
  readonly active: tf.Tensor2D
}

export const l2Normalize = (x: tf.Tensor2D): Normalized => {
  const squared = tf.sum(tf.square(x), 1, true)
  const invNorm = tf.rsqrt(tf.maximum(squared, L2_EPSILON)) as tf.Tensor2D
  return {
    unit: tf.mul(x, invNorm),
    invNorm,
    active: tf.cast(tf.greater(squared, L2_EPSILON), "float32") as tf.Tensor2D
  }
}

/**
 * Backward pass of `l2Normalize`: given dL/d(unit), returns dL/dx =
 * invNorm · (g − unit · Σ(unit ⊙ g)) where the norm is active, invNorm · g where it was clamped.
 */
export const l2NormalizeGrad = (g: tf.Tensor2D, n: Pick<Normalized, "unit" | "invNorm" | "active">): tf.Tensor2D => {
  const radial = tf.mul(tf.mul(n.unit, tf.sum(tf.mul(n.unit, g), 1, true)), n.active)
  return tf.mul(tf.sub(g, radial), n.invNorm)
}
