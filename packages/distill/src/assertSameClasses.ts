import type * as tfl from "@tensorflow/tfjs-layers"
import { describe, InvalidArgumentError, shapeOf } from "@simclr/core"

/** The C of a model's single [B, C] output, or a named error. */
const classesOf = (name: "teacher" | "student", model: unknown): number => {
  const outputs = (model as { outputs?: ReadonlyArray<{ shape: ReadonlyArray<number | null> }> } | null)?.outputs
  const shape = Array.isArray(outputs) && outputs.length === 1 ? outputs[0]!.shape : undefined
  if (shape === undefined || shape.length !== 2 || typeof shape[1] !== "number") {
    throw new InvalidArgumentError(name, `must be a tf.LayersModel with one output of logits [B, C], got ${shape === undefined ? describe(model) : `an output of shape ${shapeOf(shape.map((d: number | null) => d ?? -1))}`}`)
  }
  return shape[1]
}

/**
 * Checks that a teacher and a student predict the same number of classes (each must output logits
 * [B, C]) and returns it. Distillation matches the two distributions class by class, so they must
 * agree.
 *
 * @throws {InvalidArgumentError} naming `student` (or `teacher`) when an output is not [B, C] or the
 *   class counts differ.
 * @since 0.1.0
 * @category models
 */
export const assertSameClasses = (teacher: tfl.LayersModel, student: tfl.LayersModel): number => {
  const t = classesOf("teacher", teacher)
  const s = classesOf("student", student)
  if (t !== s) throw new InvalidArgumentError("student", `outputs ${s} classes but the teacher outputs ${t}: a student must predict the teacher's classes (studentFrom({ numClasses: ${t}, … }))`)
  return t
}

