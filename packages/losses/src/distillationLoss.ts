import * as tf from "@tensorflow/tfjs-core"
import { customGradient } from "./internal/customGradient.ts"
import { assertMatrix, assertSameShape, booleanOption, knownKeys, positiveNumber } from "@simclr/core"

/**
 * Options of {@link distillationLoss}.
 *
 * @since 0.1.0
 * @category models
 */
export interface DistillationLossOptions {
  /** T: both logit sets are divided by it before the softmax. Default 1 (the official colab's value). */
  readonly temperature?: number
  /**
   * Multiply by T² (Hinton et al.; the official SimCLR v2 distillation colab does) so gradient
   * magnitudes do not shrink as T grows. Default false (the SimCLR v2 paper's formula). Same at T = 1.
   */
  readonly scaleByTemperatureSquared?: boolean
}

const OPTION_KEYS = ["temperature", "scaleByTemperatureSquared"] as const

/**
 * Knowledge-distillation loss of SimCLR v2: the cross-entropy of the teacher's softened distribution
 * softmax(teacher/T) against the student's log-softmax(student/T), summed over classes and averaged over
 * the batch (× T² when `scaleByTemperatureSquared`). No gradient flows into the teacher.
 *
 * @example
 * ```ts
 * const loss = distillationLoss(studentLogits, teacherLogits, { temperature: 2, scaleByTemperatureSquared: true })
 * ```
 *
 * @throws {InvalidArgumentError} on a non-matrix, non-float32 or empty input, shapes that differ, or a
 *   temperature that is not a finite number > 0.
 * @since 0.1.0
 * @category losses
 */
export const distillationLoss = (
  studentLogits: tf.Tensor,
  teacherLogits: tf.Tensor,
  options: DistillationLossOptions = {}
): tf.Scalar => {
  const o = knownKeys("options", options, OPTION_KEYS)
  assertMatrix("studentLogits", studentLogits, "[B, C]")
  assertMatrix("teacherLogits", teacherLogits, "[B, C]")
  assertSameShape("studentLogits", studentLogits, "teacherLogits", teacherLogits)
  const temperature = positiveNumber("options.temperature", o["temperature"], 1)
  const scaled = booleanOption("options.scaleByTemperatureSquared", o["scaleByTemperatureSquared"], false)
  const factor = scaled ? temperature * temperature : 1
  const batch = studentLogits.shape[0]

  return customGradient<tf.Scalar>([studentLogits], ([student], save) => {
    const target = tf.softmax(tf.div(teacherLogits, temperature))
    const logProbs = tf.logSoftmax(tf.div(student as tf.Tensor, temperature))
    const value = tf.mul(tf.neg(tf.mean(tf.sum(tf.mul(target, logProbs), 1))), factor) as tf.Scalar
    save([target, logProbs])
    const gradFunc = (dy: tf.Tensor, saved: Array<tf.Tensor>): Array<tf.Tensor> => {
      const [sTarget, sLogProbs] = saved as [tf.Tensor, tf.Tensor]
      // d/ds of −Σ t·log softmax(s/T) = (softmax(s/T) − t) / T, per row (targets sum to 1).
      return [tf.mul(tf.sub(tf.exp(sLogProbs), sTarget), tf.mul(dy, factor / (batch * temperature)))]
    }
    return { value, gradFunc }
  })
}
