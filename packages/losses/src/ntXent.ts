import * as tf from "@tensorflow/tfjs-core"
import { customGradient } from "./internal/customGradient.ts"
import { l2Normalize, l2NormalizeGrad, type Normalized } from "./internal/normalize.ts"
import {
  assertMatrix,
  assertSameShape,
  assertSameWidth,
  booleanOption,
  knownKeys,
  oneOf,
  positiveNumber
} from "@simclr/core"

/**
 * Options of {@link ntXent} (and {@link ntXentMetrics}, which reads `temperature` and `normalize`).
 *
 * @since 0.1.0
 * @category models
 */
export interface NtXentOptions {
  /** τ in the logits sᵢⱼ/τ. Default 0.1 (the official `--temperature`; its CIFAR-10 recipe uses 0.5). */
  readonly temperature?: number
  /** L2-normalise every row first, so similarities are cosines (official `hidden_norm`). Default true. */
  readonly normalize?: boolean
  /**
   * `"mean"` (default): the paper's L, the mean over the 2N anchors (lightly, solo-learn).
   * `"official"`: google-research/simclr's value, the sum of the two directional means = 2 × `"mean"`.
   */
  readonly reduction?: NtXentReduction
  /**
   * Extra negatives [K, D] (for example a SimCLR v2 memory queue), in every anchor's denominator.
   * Normalised like z when `normalize`. No gradient flows into them. K = 0 is the same as none.
   */
  readonly negatives?: tf.Tensor | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type NtXentReduction = "mean" | "official"

/** Subtracted from the self-similarity logits, as `LARGE_NUM` in the official code. */
export const LARGE_NUM = 1e9

const REDUCTIONS: ReadonlyArray<NtXentReduction> = ["mean", "official"]
const OPTION_KEYS = ["temperature", "normalize", "reduction", "negatives"] as const

/** @internal validated options */
export interface ResolvedNtXent {
  readonly z1: tf.Tensor2D
  readonly z2: tf.Tensor2D
  readonly temperature: number
  readonly normalize: boolean
  readonly reduction: NtXentReduction
  /** undefined also when the caller passed K = 0 rows */
  readonly negatives: tf.Tensor2D | undefined
}

/** @internal shared by ntXent and ntXentMetrics */
export const resolveNtXent = (z1: unknown, z2: unknown, options: unknown): ResolvedNtXent => {
  const o = knownKeys("options", options, OPTION_KEYS)
  assertMatrix("z1", z1, "[N, D]")
  assertMatrix("z2", z2, "[N, D]")
  assertSameShape("z1", z1, "z2", z2)
  const temperature = positiveNumber("options.temperature", o["temperature"], 0.1)
  const normalize = booleanOption("options.normalize", o["normalize"], true)
  const reduction = oneOf("options.reduction", o["reduction"], REDUCTIONS, "mean")
  const negatives = o["negatives"]
  if (negatives === undefined) return { z1, z2, temperature, normalize, reduction, negatives: undefined }
  assertMatrix("options.negatives", negatives, "[K, D]", 0)
  assertSameWidth("z1", z1, "options.negatives", negatives)
  return { z1, z2, temperature, normalize, reduction, negatives: negatives.shape[0] === 0 ? undefined : negatives }
}

/**
 * NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR, exactly as google-research/simclr
 * `add_contrastive_loss` on one device.
 *
 * Row i of `z1` and row i of `z2` are the two views of image i. With Z = [ẑ1; ẑ2] (rows L2-normalised
 * when `normalize`), every one of the 2N rows is an anchor whose logits are its similarities to the
 * other 2N − 1 rows (and to the K `negatives`) divided by `temperature`; its own similarity is masked
 * by subtracting 1e9. The loss of an anchor is the cross-entropy of its positive (the other view of the
 * same image) against 2N − 2 in-batch negatives and the K extra ones; `reduction` averages them.
 *
 * The gradient is analytic (`tf.customGrad`): it needs no registered op gradients, keeps only the
 * logits for the backward pass, and gives `negatives` none (asking tfjs for a gradient with respect to
 * them fails with its "Cannot compute gradient" error). It cannot be differentiated a second time.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core"
 * import "@tensorflow/tfjs-backend-cpu"
 * import { ntXent } from "@simclr/losses"
 *
 * const z1 = tf.randomNormal([8, 128])
 * const z2 = tf.randomNormal([8, 128])
 * const loss = ntXent(z1, z2, { temperature: 0.5 }) // scalar
 * const [g1, g2] = tf.grads((a, b) => ntXent(a, b))([z1, z2])
 * ```
 *
 * @param z1 float32 `[N, D]`: the first view of each image (projection-head outputs).
 * @param z2 float32 `[N, D]`: the second view, row for row.
 * @throws {InvalidArgumentError} on a non-matrix, non-float32 or empty input, mismatched shapes, a
 *   temperature that is not a finite number > 0, or an unknown option.
 * @since 0.1.0
 * @category losses
 */
export const ntXent = (z1: tf.Tensor, z2: tf.Tensor, options: NtXentOptions = {}): tf.Scalar => {
  const { temperature, normalize, reduction, negatives } = resolveNtXent(z1, z2, options)
  const n = z1.shape[0]!
  const scale = reduction === "official" ? 2 : 1
  const extra = negatives?.shape[0] ?? 0
  const width = 2 * n + extra

  return customGradient<tf.Scalar>([z1, z2], ([a, b], save) => {
    const n1: Normalized | undefined = normalize ? l2Normalize(a as tf.Tensor2D) : undefined
    const n2: Normalized | undefined = normalize ? l2Normalize(b as tf.Tensor2D) : undefined
    const h = tf.concat2d([n1?.unit ?? (a as tf.Tensor2D), n2?.unit ?? (b as tf.Tensor2D)], 0)
    const queue = negatives !== undefined && normalize ? l2Normalize(negatives).unit : negatives
    const logits = maskedLogits(h, queue, temperature)
    const lse = tf.logSumExp(logits, 1, true)
    // The positive logit of anchor i sits at column (i + N) mod 2N; read it from the same logits the
    // log-sum-exp saw, so that lse ≥ positive holds in floating point too.
    const positiveIndex = tf.tensor1d(
      Int32Array.from({ length: 2 * n }, (_row, i) => i * width + ((i + n) % (2 * n))),
      "int32"
    )
    const positives = tf.gather(tf.reshape(logits, [-1]), positiveIndex)
    const value = tf.mul(tf.mean(tf.sub(tf.reshape(lse, [-1]), positives)), scale) as tf.Scalar

    const kept: Array<tf.Tensor> = [logits, lse, h]
    if (queue !== undefined) kept.push(queue)
    if (n1 !== undefined && n2 !== undefined) kept.push(n1.invNorm, n1.active, n2.invNorm, n2.active)
    save(kept)

    const gradFunc = (dy: tf.Tensor, saved: Array<tf.Tensor>): Array<tf.Tensor> => {
      const [savedLogits, savedLse, savedH] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D]
      const savedQueue = extra > 0 ? (saved[3] as tf.Tensor2D) : undefined
      const rest = saved.slice(extra > 0 ? 4 : 3) as Array<tf.Tensor2D>
      const [u1, u2] = tf.split(savedH, 2, 0) as [tf.Tensor2D, tf.Tensor2D]
      const gH = logitsGrad(savedLogits, savedLse, savedH, savedQueue, n, u1, u2)
      const g = tf.mul(gH, tf.mul(dy, scale / (2 * n * temperature)))
      gH.dispose()
      const [g1, g2] = tf.split(g, 2, 0) as [tf.Tensor2D, tf.Tensor2D]
      if (!normalize) return [g1, g2]
      const [inv1, act1, inv2, act2] = rest as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D]
      return [
        l2NormalizeGrad(g1, { unit: u1, invNorm: inv1, active: act1 }),
        l2NormalizeGrad(g2, { unit: u2, invNorm: inv2, active: act2 })
      ]
    }
    return { value, gradFunc }
  })
}

/**
 * [H·Hᵀ/τ − 1e9·I | H·Qᵀ/τ]: the 2N × (2N + K) logits. The 2N × 2N temporaries are freed as soon as
 * they are used (the enclosing tidy would keep them to its end: 268 MB each at N = 4096).
 */
const maskedLogits = (h: tf.Tensor2D, queue: tf.Tensor2D | undefined, temperature: number): tf.Tensor2D => {
  const rows = h.shape[0]
  const product = tf.matMul(h, h, false, true)
  const scaled = tf.div(product, temperature)
  product.dispose()
  const eye = tf.eye(rows)
  const mask = tf.mul(eye, LARGE_NUM)
  eye.dispose()
  const self = tf.sub(scaled, mask) as tf.Tensor2D
  tf.dispose([scaled, mask])
  if (queue === undefined) return self
  const queueProduct = tf.matMul(h, queue, false, true)
  const queueLogits = tf.div(queueProduct, temperature) as tf.Tensor2D
  queueProduct.dispose()
  const logits = tf.concat2d([self, queueLogits], 1)
  tf.dispose([self, queueLogits])
  return logits
}

/**
 * d(Σᵢ lseᵢ − posᵢ)/dH · τ = (P + Pᵀ)·H + P_neg·Q − 2·H_swapped, with P = softmax(logits) row-wise
 * (P's masked diagonal is 0, and the positive one-hot is symmetric, hence the factor 2). One matmul with
 * P + Pᵀ is cheaper than two; large temporaries are freed as soon as they are used.
 */
const logitsGrad = (
  logits: tf.Tensor2D,
  lse: tf.Tensor2D,
  h: tf.Tensor2D,
  queue: tf.Tensor2D | undefined,
  n: number,
  u1: tf.Tensor2D,
  u2: tf.Tensor2D
): tf.Tensor2D => {
  const shifted = tf.sub(logits, lse)
  const p = tf.exp(shifted)
  shifted.dispose()
  let pSelf = p
  let fromQueue: tf.Tensor | undefined
  if (queue !== undefined) {
    const [self, neg] = tf.split(p, [2 * n, queue.shape[0]], 1) as [tf.Tensor2D, tf.Tensor2D]
    p.dispose()
    pSelf = self
    fromQueue = tf.matMul(neg, queue)
    neg.dispose()
  }
  const pT = tf.transpose(pSelf)
  const symmetric = tf.add(pSelf, pT)
  tf.dispose([pSelf, pT])
  let g: tf.Tensor = tf.matMul(symmetric, h)
  symmetric.dispose()
  if (fromQueue !== undefined) g = tf.add(g, fromQueue)
  return tf.sub(g, tf.mul(tf.concat2d([u2, u1], 0), 2)) as tf.Tensor2D
}
