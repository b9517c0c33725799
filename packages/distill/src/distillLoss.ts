import * as tf from "@tensorflow/tfjs-core"
import { keptMask, resolveLossOptions } from "./internal/options.ts"
import { softCrossEntropy, type Term } from "./internal/softCrossEntropy.ts"

/**
 * Options of {@link distillLoss} (and {@link distillMetrics}, which reads the same object).
 *
 * @since 0.1.0
 * @category models
 */
export interface DistillLossOptions {
  /** τ > 0, the temperature the teacher targets were made with (`teacherTargets`); the student's logits are divided by it too. Required. */
  readonly temperature: number
  /**
   * Weight α ∈ [0, 1] of the cross-entropy on the batch's labeled images: the loss is
   * (1 − α)·distillation + α·cross-entropy. Default 0: unlabeled images only, the paper's main setting.
   */
  readonly alpha?: number
  /**
   * One class index per image, −1 for an unlabeled image (Int32Array or number[]). Required when α > 0;
   * with α = 0 only {@link distillMetrics} reads them.
   */
  readonly labels?: Int32Array | ReadonlyArray<number>
  /**
   * Keep an image in the distillation term only if the teacher's largest probability is ≥ this value,
   * in [0, 1]. Default 0: every image is kept. Dropped images still count in the cross-entropy term
   * when they are labeled.
   */
  readonly confidenceThreshold?: number
  /** Multiply the distillation term by τ² (Hinton et al.; the official colab). Default false (the paper's formula). Same at τ = 1. */
  readonly scaleByTemperatureSquared?: boolean
}

/**
 * SimCLR v2's distillation loss for a batch, differentiable with respect to the student's logits:
 *
 * (1 − α) · f · (1/K) Σ_{i kept} −Σ_y p_T(y | x_i; τ) · log p_S(y | x_i; τ)  +  α · (1/L) Σ_{i labeled} −log p_S(y_i | x_i; 1)
 *
 * with p_S(· | x; τ) = softmax(studentLogits / τ), p_T the teacher's probabilities (rows of
 * `teacherProbs`, made by `teacherTargets` at the same τ), f = τ² with `scaleByTemperatureSquared`
 * else 1, K the number of images whose teacher's largest probability is ≥ `confidenceThreshold`, and
 * L the number of labeled images (label ≥ 0). The cross-entropy is the ordinary one, at τ = 1 and not
 * scaled.
 *
 * When no image is kept (K = 0) the distillation term is 0, and when no image is labeled (L = 0) the
 * cross-entropy term is 0, each with a zero gradient: the loss is then a finite 0 (or the other term
 * alone), never NaN. A term whose weight is 0 (α = 0 or α = 1) is not computed.
 *
 * The gradient goes to `studentLogits` only: (1 − α)·f/(K·τ)·(p_S(·|x_i; τ)·Σ_y p_T − p_T) per kept row
 * plus α/L·(p_S(·|x_i; 1) − onehot(y_i)) per labeled row; `teacherProbs` receives none. Use it inside
 * `tf.variableGrads` or an optimiser's `minimize`.
 *
 * `@simclr/losses`' `distillationLoss` is the same first term for teacher *logits* and a whole batch;
 * here the targets are precomputed probabilities and rows can be dropped or mixed with labels.
 *
 * @example
 * ```ts
 * const targets = teacherTargets(teacher, images, { temperature: 1 })
 * const { value, grads } = tf.variableGrads(() =>
 *   distillLoss(student.apply(images, { training: true }) as tf.Tensor2D, targets, { temperature: 1 }))
 * ```
 *
 * @throws {InvalidArgumentError} when a tensor is not a float32 [B, C] matrix, teacher and student
 *   class counts or batch sizes differ, τ is missing or not a finite number > 0, α or the threshold is
 *   outside [0, 1], labels are not one integer in [−1, C − 1] per image (or are missing with α > 0), or
 *   an option is unknown.
 * @since 0.1.0
 * @category losses
 */
export const distillLoss = (studentLogits: tf.Tensor2D, teacherProbs: tf.Tensor2D, options: DistillLossOptions): tf.Scalar => {
  const r = resolveLossOptions(studentLogits, teacherProbs, options)
  const terms: Array<Term> = []
  if (r.alpha < 1) {
    const scale = (1 - r.alpha) * r.factor
    terms.push({
      targets: () => tf.clone(teacherProbs),
      weights: r.threshold === 0
        ? () => tf.fill([r.batch], scale / r.batch)
        : () =>
          tf.tidy(() => {
            const kept = keptMask(teacherProbs, r.threshold)
            // K = 0 gives weights 0/1: the term and its gradient are 0.
            return tf.mul(kept, tf.div(scale, tf.maximum(tf.sum(kept), 1)))
          }),
      temperature: r.temperature
    })
  }
  if (r.alpha > 0) {
    const labels = r.labels!
    const labeled = labels.reduce((n, y) => n + (y >= 0 ? 1 : 0), 0)
    const oneHot = new Float32Array(r.batch * r.classes)
    const weights = new Float32Array(r.batch)
    labels.forEach((y, i) => {
      if (y >= 0) {
        oneHot[i * r.classes + y] = 1
        weights[i] = r.alpha / labeled
      }
    })
    terms.push({ targets: () => tf.tensor2d(oneHot, [r.batch, r.classes]), weights: () => tf.tensor1d(weights), temperature: 1 })
  }
  return softCrossEntropy(studentLogits, terms)
}
