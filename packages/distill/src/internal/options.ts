/**
 * The options {@link distillLoss} and {@link distillMetrics} share, checked once: every check names the
 * argument and what it allows.
 */
import * as tf from "@tensorflow/tfjs-core"
import { assertMatrix, booleanOption, describe, InvalidArgumentError, knownKeys, numberIn, positiveNumber, shapeOf } from "@simclr/core"

export const LOSS_KEYS = ["temperature", "alpha", "labels", "confidenceThreshold", "scaleByTemperatureSquared"] as const

export interface Resolved {
  readonly batch: number
  readonly classes: number
  readonly temperature: number
  readonly alpha: number
  /** One label per image, −1 = unlabeled; undefined when no labels were given. */
  readonly labels: Int32Array | undefined
  readonly threshold: number
  /** τ² with the switch on, else 1. */
  readonly factor: number
}

/** Checks student logits [B, C] and teacher probabilities [B, C] of the same shape. */
export const checkPair = (studentLogits: unknown, teacherProbs: unknown): { batch: number; classes: number } => {
  assertMatrix("studentLogits", studentLogits, "[B, C] (student logits)")
  assertMatrix("teacherProbs", teacherProbs, "[B, C] (teacher probabilities, from teacherTargets)")
  const [batch, classes] = studentLogits.shape
  if (teacherProbs.shape[1] !== classes) {
    throw new InvalidArgumentError(
      "teacherProbs",
      `has ${teacherProbs.shape[1]} classes but studentLogits has ${classes}: teacher and student must predict the same classes (shapes ${shapeOf(teacherProbs.shape)} and ${shapeOf(studentLogits.shape)})`
    )
  }
  if (teacherProbs.shape[0] !== batch) {
    throw new InvalidArgumentError(
      "teacherProbs",
      `has ${teacherProbs.shape[0]} rows but studentLogits has ${batch}: one row per image, in the same order (shapes ${shapeOf(teacherProbs.shape)} and ${shapeOf(studentLogits.shape)})`
    )
  }
  return { batch, classes }
}

const checkLabels = (value: unknown, batch: number, classes: number): Int32Array | undefined => {
  if (value === undefined) return undefined
  if (!(Array.isArray(value) || value instanceof Int32Array)) {
    throw new InvalidArgumentError("options.labels", `expected an Int32Array or number[] with one class index per image (−1 = unlabeled), got ${describe(value)}`)
  }
  if (value.length !== batch) {
    throw new InvalidArgumentError("options.labels", `expected one label per image: ${batch} labels, got ${value.length}`)
  }
  const labels = new Int32Array(batch)
  for (let i = 0; i < batch; i++) {
    const v: unknown = value[i]
    if (typeof v !== "number" || !Number.isInteger(v) || v < -1 || v >= classes) {
      throw new InvalidArgumentError("options.labels", `must be integers in [-1, ${classes - 1}] (−1 = unlabeled), got ${describe(v)} at index ${i}`)
    }
    labels[i] = v
  }
  return labels
}

/** Validates the pair and the options of {@link distillLoss} (also used by {@link distillMetrics}). */
export const resolveLossOptions = (studentLogits: unknown, teacherProbs: unknown, options: unknown): Resolved => {
  if (options === undefined) {
    throw new InvalidArgumentError("options", "is required: { temperature, alpha?, labels?, confidenceThreshold?, scaleByTemperatureSquared? }")
  }
  const o = knownKeys("options", options, LOSS_KEYS)
  const { batch, classes } = checkPair(studentLogits, teacherProbs)
  if (o["temperature"] === undefined) {
    throw new InvalidArgumentError("options.temperature", "is required: the τ the teacher targets were made with, a finite number > 0")
  }
  const temperature = positiveNumber("options.temperature", o["temperature"], 1)
  const alpha = numberIn("options.alpha", o["alpha"], 0, [0, 1])
  const labels = checkLabels(o["labels"], batch, classes)
  if (alpha > 0 && labels === undefined) {
    throw new InvalidArgumentError("options.labels", `is required when options.alpha > 0 (got alpha ${alpha}): one class index per image, −1 for an unlabeled one`)
  }
  const threshold = numberIn("options.confidenceThreshold", o["confidenceThreshold"], 0, [0, 1])
  const scaled = booleanOption("options.scaleByTemperatureSquared", o["scaleByTemperatureSquared"], false)
  return { batch, classes, temperature, alpha, labels, threshold, factor: scaled ? temperature * temperature : 1 }
}

/** float32 [B]: 1 where the teacher's largest probability is ≥ the threshold, else 0. */
export const keptMask = (teacherProbs: tf.Tensor2D, threshold: number): tf.Tensor1D =>
  tf.tidy(() => tf.cast(tf.greaterEqual(tf.max(teacherProbs, 1), threshold), "float32"))
