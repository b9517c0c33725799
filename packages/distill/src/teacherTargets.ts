import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { assertImages, describe, InvalidArgumentError, knownKeys, numberIn, positiveNumber, shapeOf } from "@simclr/core"

/**
 * Options of {@link teacherTargets}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TeacherTargetsOptions {
  /** τ > 0: the teacher's logits are divided by it before the softmax. Required; pass the same τ to {@link distillLoss}. The paper's setting is 1. */
  readonly temperature: number
  /** Images per forward pass of the teacher, an integer ≥ 1. Default 256. Does not change the result, only the peak memory. */
  readonly batchSize?: number
}

const KEYS = ["temperature", "batchSize"] as const

/** The teacher's single input and output shapes, or a named error. */
const checkTeacher = (teacher: unknown): { input: ReadonlyArray<number | null>; output: ReadonlyArray<number | null> } => {
  const model = teacher as tfl.LayersModel | undefined
  if (typeof model !== "object" || model === null || typeof model.apply !== "function" || !Array.isArray(model.inputs) || !Array.isArray(model.outputs)) {
    throw new InvalidArgumentError("teacher", `expected a tf.LayersModel (images → logits [B, C]), got ${describe(teacher)}`)
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new InvalidArgumentError("teacher", `must have one input and one output (images → logits [B, C]), got ${model.inputs.length} inputs and ${model.outputs.length} outputs`)
  }
  const output = model.outputs[0]!.shape
  if (output.length !== 2) {
    throw new InvalidArgumentError("teacher", `must output logits [B, C], got an output of shape ${shapeOf(output.map((d) => d ?? -1))} (−1: any size)`)
  }
  return { input: model.inputs[0]!.shape, output }
}

/**
 * The teacher's softened predictions on a set of images: softmax(logits / τ), one row per image, the
 * targets of SimCLR v2's distillation (p_T(y | x; τ) in the paper).
 *
 * The teacher runs in inference mode (`training: false`: batch norm uses its moving statistics,
 * dropout is off) on `batchSize` images at a time; every intermediate tensor is freed, so the peak
 * memory is one batch's activations plus the result. The result carries no gradient: computed inside
 * `tf.grads` or `tf.variableGrads`, it still gives the teacher's weights none (and the images a zero
 * one), so only the student learns.
 *
 * @example
 * ```ts
 * const targets = teacherTargets(teacher, images, { temperature: 1, batchSize: 128 }) // [N, C], you dispose it
 * ```
 *
 * @returns float32 [N, C]; rows sum to 1 up to float32 rounding. You own it.
 * @throws {InvalidArgumentError} when `teacher` is not a one-input, one-output model with [B, C]
 *   logits, `images` is not a float32 [N, H, W, C] batch matching the teacher's input, τ is missing or
 *   not a finite number > 0, `batchSize` is not an integer ≥ 1, or an option is unknown.
 * @since 0.1.0
 * @category distillation
 */
export const teacherTargets = (teacher: tfl.LayersModel, images: tf.Tensor4D, options: TeacherTargetsOptions): tf.Tensor2D => {
  if (options === undefined) throw new InvalidArgumentError("options", "is required: { temperature, batchSize? }")
  const o = knownKeys("options", options, KEYS)
  const shapes = checkTeacher(teacher)
  assertImages("images", images)
  const expected = shapes.input
  if (expected.length !== 4 || !expected.slice(1).every((d, i) => d === null || d === images.shape[i + 1])) {
    throw new InvalidArgumentError(
      "images",
      `shape ${shapeOf(images.shape)} does not fit the teacher's input ${shapeOf(expected.map((d) => d ?? -1))} (−1: any size)`
    )
  }
  if (o["temperature"] === undefined) {
    throw new InvalidArgumentError("options.temperature", "is required: a finite number > 0 (the paper's setting is 1); pass the same value to distillLoss")
  }
  const temperature = positiveNumber("options.temperature", o["temperature"], 1)
  const batchSize = numberIn("options.batchSize", o["batchSize"], 256, [1, Number.MAX_SAFE_INTEGER], { integer: true })
  const n = images.shape[0]

  // Off the tape: tf.customGrad runs its forward pass unrecorded, so the teacher's variables are never
  // reached by a gradient; the images get a zero gradient.
  const forward = (x: tf.Tensor): { value: tf.Tensor; gradFunc: () => tf.Tensor } => {
    const value = tf.tidy(() => {
      const pieces: Array<tf.Tensor> = []
      for (let start = 0; start < n; start += batchSize) {
        const size = Math.min(batchSize, n - start)
        // One tidy per batch: only that batch's activations are alive at a time.
        pieces.push(tf.tidy(() => {
          const batch = size === n ? x : tf.slice(x, [start, 0, 0, 0], [size, -1, -1, -1])
          const logits = teacher.apply(batch, { training: false }) as tf.Tensor
          return tf.softmax(tf.div(logits, temperature))
        }))
      }
      return pieces.length === 1 ? pieces[0]! : tf.concat(pieces, 0)
    })
    return { value, gradFunc: () => tf.zerosLike(x) }
  }
  const soften = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0])
  return soften(images) as tf.Tensor2D
}
