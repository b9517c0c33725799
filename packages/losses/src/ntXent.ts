import * as tf from "@tensorflow/tfjs-core"
import { customGradient } from "./internal/customGradient.ts"
import { InvalidArgumentError } from "./SimclrError.ts"
import { l2Normalize, l2NormalizeGrad, type Normalized } from "./internal/normalize.ts"
import {
  assertMatrix,
  assertSameShape,
  assertSameWidth,
  booleanOption,
  knownKeys,
  oneOf,
  positiveNumber,
  shapeOf
} from "./internal/validate.ts"

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
  readonly negatives?: tf.Tensor2D | undefined
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
  readonly temperature: number
  readonly normalize: boolean
  readonly reduction: NtXentReduction
  readonly negatives: tf.Tensor2D | undefined
}

/** @internal shared by ntXent and ntXentMetrics */
export const resolveNtXent = (z1: unknown, z2: unknown, options: unknown): ResolvedNtXent => {
  const o = knownKeys("options", options, OPTION_KEYS)
  assertMatrix("z1", z1, "[N, D]")
  assertMatrix("z2", z2, "[N, D]")
  assertSameShape("z1", z1 as tf.Tensor, "z2", z2 as tf.Tensor)
  const temperature = positiveNumber("options.temperature", o["temperature"], 0.1)
  const normalize = booleanOption("options.normalize", o["normalize"], true)
  const reduction = oneOf("options.reduction", o["reduction"], REDUCTIONS, "mean")
  let negatives = o["negatives"] as tf.Tensor2D | undefined
  if (negatives !== undefined) {
    if (negatives instanceof tf.Tensor && negatives.rank === 2 && negatives.shape[0] === 0) {
      if (negatives.shape[1] !== (z1 as tf.Tensor).shape[1]) {
        throw new InvalidArgumentError(
          "options.negatives",
          `rows must have the same width as z1: ${shapeOf(negatives)} vs ${shapeOf(z1 as tf.Tensor)}`
        )
      }
      negatives = undefined
    } else {
      assertMatrix("options.negatives", negatives, "[K, D]")
      assertSameWidth("z1", z1 as tf.Tensor, "options.negatives", negatives)
    }
  }
  return { temperature, normalize, reduction, negatives }
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
 * logits for the backward pass, and gives `negatives` none.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core"
 * import "@tensorflow/tfjs-backend-cpu"
 * import { ntXent } from "@simclr/losses"
 *
 * const z1 = tf.randomNormal([8, 128]) as tf.Tensor2D
 * const z2 = tf.randomNormal([8, 128]) as tf.Tensor2D
 * const loss = ntXent(z1, z2, { temperature: 0.5 }) // scalar
 * const [g1, g2] = tf.grads((a: tf.Tensor, b: tf.Tensor) => ntXent(a as tf.Tensor2D, b as tf.Tensor2D))([z1, z2])
 * ```
 *
 * @throws {InvalidArgumentError} on a non-matrix, non-float32 or empty input, mismatched shapes, a
 *   temperature that is not a finite number > 0, or an unknown option.
 * @since 0.1.0
 * @category losses
 */
export const ntXent = (z1: tf.Tensor2D, z2: tf.Tensor2D, options: NtXentOptions = {}): tf.Scalar => {
  const { temperature, normalize, reduction, negatives } = resolveNtXent(z1, z2, options)
  const n = z1.shape[0]
  const scale = reduction === "official" ? 2 : 1
  const extra = negatives?.shape[0] ?? 0

  return customGradient<tf.Scalar>([z1, z2], ([a, b], save) => {
    const a2 = a as tf.Tensor2D
    const b2 = b as tf.Tensor2D
    const n1: Normalized | undefined = normalize ? l2Normalize(a2) : undefined
    const n2: Normalized | undefined = normalize ? l2Normalize(b2) : undefined
    const h1 = n1?.unit ?? a2
    const h2 = n2?.unit ?? b2
    const h = tf.concat2d([h1, h2], 0)
    const similarities = tf.sub(tf.div(tf.matMul(h, h, false, true), temperature), tf.mul(tf.eye(2 * n), LARGE_NUM))
    let queue: tf.Tensor2D | undefined
    let logits: tf.Tensor2D = similarities as tf.Tensor2D
    if (negatives !== undefined) {
      queue = normalize ? l2Normalize(negatives).unit : negatives
      logits = tf.concat2d([logits, tf.div(tf.matMul(h, queue, false, true), temperature) as tf.Tensor2D], 1)
    }
    const lse = tf.logSumExp(logits, 1, true)
    const positives = tf.div(tf.sum(tf.mul(h1, h2), 1, true), temperature)
    const perAnchor = tf.sub(lse, tf.concat2d([positives as tf.Tensor2D, positives as tf.Tensor2D], 0))
    const value = tf.mul(tf.mean(perAnchor), scale) as tf.Scalar

    const kept: Array<tf.Tensor> = [logits, lse, h]
    if (queue !== undefined) kept.push(queue)
    if (n1 !== undefined && n2 !== undefined) kept.push(n1.invNorm, n1.active, n2.invNorm, n2.active)
    save(kept)

    const gradFunc = (dy: tf.Tensor, saved: Array<tf.Tensor>): Array<tf.Tensor> => {
      const [savedLogits, savedLse, savedH] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D]
      let rest = saved.slice(3)
      let savedQueue: tf.Tensor2D | undefined
      if (extra > 0) {
        savedQueue = rest[0] as tf.Tensor2D
        rest = rest.slice(1)
      }
      // d(mean of lse_i − pos_i)/dZ = [(P + Pᵀ)Z + P_neg·Q − 2·Z_swapped] / (2N·τ), P = softmax(logits).
      const p = tf.exp(tf.sub(savedLogits, savedLse))
      const [pSelf, pNeg] = extra > 0 ? tf.split(p, [2 * n, extra], 1) : [p, undefined]
      // One matmul with P + Pᵀ is cheaper than two (Pᵀ is an element-wise pass; matmul is the cost).
      let gH = tf.matMul(tf.add(pSelf!, tf.transpose(pSelf!)), savedH)
      if (pNeg !== undefined && savedQueue !== undefined) gH = tf.add(gH, tf.matMul(pNeg, savedQueue))
      const [u1, u2] = tf.split(savedH, 2, 0) as [tf.Tensor2D, tf.Tensor2D]
      gH = tf.sub(gH, tf.mul(tf.concat2d([u2, u1], 0), 2))
      gH = tf.mul(gH, tf.mul(dy, scale / (2 * n * temperature)))
      const [g1, g2] = tf.split(gH, 2, 0) as [tf.Tensor2D, tf.Tensor2D]
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
