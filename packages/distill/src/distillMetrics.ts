import * as tf from "@tensorflow/tfjs-core"
import type { DistillLossOptions } from "./distillLoss.ts"
import { keptMask, resolveLossOptions } from "./internal/options.ts"

/**
 * What {@link distillMetrics} measures on one batch, as plain numbers (ready for a metrics.jsonl line).
 *
 * @since 0.1.0
 * @category models
 */
export interface DistillMetrics {
  /** Images in the batch (B). */
  readonly images: number
  /** Images whose teacher's largest probability is ≥ the confidence threshold (all of them without one). */
  readonly kept: number
  /** B − kept: images the threshold left out of the distillation term. */
  readonly dropped: number
  /** Fraction of the B images on which the student's argmax equals the teacher's (ties: the first index, as tf.argMax). */
  readonly agreement: number
  /** Images with a label ≥ 0 (0 without labels). */
  readonly labeled: number
  /** Fraction of the labeled images on which the student's argmax is the label; absent when none is labeled. */
  readonly labeledAccuracy?: number
}

/**
 * Counts and accuracies of the distillation step for one batch: kept and dropped images (the
 * confidence threshold), agreement between student and teacher argmax, and the student's accuracy on
 * the labeled images. Takes the same options object as {@link distillLoss} and checks it the same way
 * (the temperature does not change an argmax; it is required only so one object serves both).
 *
 * Reads the values back (`dataSync`), so call it on the step's logits after the gradient step, or every
 * few steps. Leaves no tensor behind.
 *
 * @throws {InvalidArgumentError} on the inputs and options {@link distillLoss} refuses.
 * @since 0.1.0
 * @category metrics
 */
export const distillMetrics = (studentLogits: tf.Tensor2D, teacherProbs: tf.Tensor2D, options: DistillLossOptions): DistillMetrics => {
  const r = resolveLossOptions(studentLogits, teacherProbs, options)
  const [studentClass, teacherClass, kept] = tf.tidy(() => [
    tf.argMax(studentLogits, 1),
    tf.argMax(teacherProbs, 1),
    r.threshold === 0 ? tf.ones([r.batch]) : keptMask(teacherProbs, r.threshold)
  ])
  const s = studentClass.dataSync()
  const t = teacherClass.dataSync()
  const k = kept.dataSync()
  tf.dispose([studentClass, teacherClass, kept])
  let keptCount = 0
  let agree = 0
  let labeled = 0
  let correct = 0
  for (let i = 0; i < r.batch; i++) {
    if (k[i] === 1) keptCount++
    if (s[i] === t[i]) agree++
    const y = r.labels?.[i] ?? -1
    if (y >= 0) {
      labeled++
      if (s[i] === y) correct++
    }
  }
  const base = { images: r.batch, kept: keptCount, dropped: r.batch - keptCount, agreement: agree / r.batch, labeled }
  return labeled === 0 ? base : { ...base, labeledAccuracy: correct / labeled }
}
