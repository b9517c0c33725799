import * as tf from "@tensorflow/tfjs-core"

/**
 * One soft cross-entropy term of a loss: Σ_i w_i · (−Σ_y t_iy · log softmax(s_i / τ)_y), made inside the
 * forward pass so that whatever it allocates is freed with it.
 */
export interface Term {
  /** [B, C] targets (probabilities or one-hot rows); they get no gradient. */
  readonly targets: () => tf.Tensor2D
  /** [B] row weights (0 drops a row); they get no gradient. */
  readonly weights: () => tf.Tensor1D
  readonly temperature: number
}

/**
 * The sum of the terms, differentiable with respect to `logits` only, with the analytic gradient
 * Σ_terms w_i · (softmax(s_i / τ) · Σ_y t_iy − t_i) / τ (exact for any non-negative targets, not only
 * rows that sum to 1). Computed with log-softmax, so large logits do not overflow. The ops run off the
 * tape (tf.customGrad), so no op gradient needs to be registered and no gradient reaches the targets.
 */
export const softCrossEntropy = (logits: tf.Tensor2D, terms: ReadonlyArray<Term>): tf.Scalar => {
  const forward = (s: tf.Tensor, save: tf.GradSaveFunc): { value: tf.Scalar; gradFunc: (dy: tf.Tensor, kept: Array<tf.Tensor>) => tf.Tensor } => {
    const saved: Array<tf.Tensor> = []
    let value: tf.Tensor = tf.scalar(0)
    for (const term of terms) {
      const targets = term.targets()
      const weights = tf.reshape(term.weights(), [-1, 1])
      const logProbs = tf.logSoftmax(tf.div(s, term.temperature))
      // 0 − Σ (not −Σ): a term whose weights are all 0 gives +0, not −0.
      value = tf.sub(value, tf.sum(tf.mul(tf.mul(targets, logProbs), weights)))
      saved.push(targets, weights, logProbs)
    }
    save(saved)
    const gradFunc = (dy: tf.Tensor, kept: Array<tf.Tensor>): tf.Tensor => {
      let grad: tf.Tensor = tf.zerosLike(s)
      terms.forEach((term, k) => {
        const [targets, weights, logProbs] = kept.slice(3 * k, 3 * k + 3) as [tf.Tensor, tf.Tensor, tf.Tensor]
        const residual = tf.sub(tf.mul(tf.exp(logProbs), tf.sum(targets, 1, true)), targets)
        grad = tf.add(grad, tf.mul(residual, tf.div(weights, term.temperature)))
      })
      return tf.mul(grad, dy)
    }
    return { value: value as tf.Scalar, gradFunc }
  }
  // tf.customGrad types its function over variadic inputs; this one has a single input.
  const f = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0])
  return f(logits) as tf.Scalar
}
