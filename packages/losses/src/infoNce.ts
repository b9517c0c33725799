import * as tf from "@tensorflow/tfjs-core"
import { customGradient } from "./internal/customGradient.ts"
import { assertMatrix, assertSameShape, assertSameWidth, booleanOption, InvalidArgumentError, knownKeys, positiveNumber } from "@simclr/core"
import { l2Normalize, l2NormalizeGrad, type Normalized } from "./internal/normalize.ts"

/**
 * Options of {@link infoNce}.
 *
 * @since 0.1.0
 * @category models
 */
export interface InfoNceOptions {
  /** τ. Default 0.07 (MoCo's default; MoCo v2 uses 0.2). */
  readonly temperature?: number
  /** L2-normalise the rows of query, positiveKey and negatives first. Default true. */
  readonly normalize?: boolean
}

const OPTION_KEYS = ["temperature", "normalize"] as const

/**
 * InfoNCE in the MoCo / lightly memory-bank form: for each of the N queries, the logits are
 * [q·k⁺, q·negativesᵀ] / τ with the positive at index 0, and the loss is the cross-entropy of index 0,
 * averaged over N. Rows are L2-normalised when `normalize`.
 *
 * Gradients flow into `query` and `positiveKey` (with a momentum encoder, compute the key outside the
 * gradient, as MoCo does); `negatives` (the queue) never receives one.
 *
 * @example
 * ```ts
 * const loss = infoNce(queries, keys, queue, { temperature: 0.2 }) // queries, keys [N, D]; queue [K, D]
 * ```
 *
 * @param query float32 `[N, D]`.
 * @param positiveKey float32 `[N, D]`: row i is the positive of query i.
 * @param negatives float32 `[K, D]`, K ≥ 1: shared by every query.
 *
 * @throws {InvalidArgumentError} on a non-matrix, non-float32 or empty input, a key shape other than the
 *   query's, negatives of another width, or a temperature that is not a finite number > 0.
 * @since 0.1.0
 * @category losses
 */
export const infoNce = (
  query: tf.Tensor,
  positiveKey: tf.Tensor,
  negatives: tf.Tensor,
  options: InfoNceOptions = {}
): tf.Scalar => {
  const o = knownKeys("options", options, OPTION_KEYS)
  assertMatrix("query", query, "[N, D]")
  assertMatrix("positiveKey", positiveKey, "[N, D]")
  assertSameShape("query", query, "positiveKey", positiveKey)
  assertMatrix("negatives", negatives, "[K, D]", 0)
  if (negatives.shape[0] === 0) {
    throw new InvalidArgumentError("negatives", `needs at least one row (InfoNCE has no in-batch negatives), got shape [0, ${negatives.shape[1]}]`)
  }
  assertSameWidth("query", query, "negatives", negatives)
  const temperature = positiveNumber("options.temperature", o["temperature"], 0.07)
  const normalize = booleanOption("options.normalize", o["normalize"], true)
  const n = query.shape[0]
  const k = negatives.shape[0]

  return customGradient<tf.Scalar>([query, positiveKey], ([q, key], save) => {
    const nq: Normalized | undefined = normalize ? l2Normalize(q as tf.Tensor2D) : undefined
    const nk: Normalized | undefined = normalize ? l2Normalize(key as tf.Tensor2D) : undefined
    const hq = nq?.unit ?? (q as tf.Tensor2D)
    const hk = nk?.unit ?? (key as tf.Tensor2D)
    const queue = normalize ? l2Normalize(negatives).unit : negatives
    const positive = tf.div(tf.sum(tf.mul(hq, hk), 1, true), temperature) as tf.Tensor2D
    const logits = tf.concat2d([positive, tf.div(tf.matMul(hq, queue, false, true), temperature) as tf.Tensor2D], 1)
    const lse = tf.logSumExp(logits, 1, true)
    const value = tf.mean(tf.sub(lse, positive)) as tf.Scalar
    const kept: Array<tf.Tensor> = [logits, lse, hq, hk, queue]
    if (nq !== undefined && nk !== undefined) kept.push(nq.invNorm, nq.active, nk.invNorm, nk.active)
    save(kept)

    const gradFunc = (dy: tf.Tensor, saved: Array<tf.Tensor>): Array<tf.Tensor> => {
      const [sLogits, sLse, sq, sk, sQueue, ...rest] = saved as Array<tf.Tensor2D>
      // dL/dlogits = (softmax − onehot(0)) / N; logits = [q·k, q·Qᵀ] / τ.
      const p = tf.exp(tf.sub(sLogits!, sLse!))
      const [pPos, pNeg] = tf.split(p, [1, k], 1)
      const coef = tf.mul(dy, 1 / (n * temperature))
      const posCoef = tf.mul(tf.sub(pPos!, 1), coef)
      const gq = tf.add(tf.mul(posCoef, sk!), tf.mul(tf.matMul(pNeg!, sQueue!), coef)) as tf.Tensor2D
      const gk = tf.mul(posCoef, sq!) as tf.Tensor2D
      if (!normalize) return [gq, gk]
      const [invQ, actQ, invK, actK] = rest as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D]
      return [
        l2NormalizeGrad(gq, { unit: sq!, invNorm: invQ, active: actQ }),
        l2NormalizeGrad(gk, { unit: sk!, invNorm: invK, active: actK })
      ]
    }
    return { value, gradFunc }
  })
}
