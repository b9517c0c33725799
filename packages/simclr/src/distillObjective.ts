/**
 * SimCLR v2's distillation as an objective of the one training loop (`trainLoop`): a fixed teacher (a
 * fine-tuned classifier) labels each batch's augmented view with its softened predictions, and a
 * student learns to reproduce them (`@simclr/distill`), optionally with the cross-entropy of the
 * batch's labeled images.
 *
 * @since 0.1.0
 */
import { augmentPresets, simclrView } from "@simclr/augment"
import { batchSeed, type ImageBatch, toTensors } from "@simclr/data-stream"
import { type DistillLossOptions, distillLoss, distillMetrics, teacherTargets } from "@simclr/distill"
import type { ResNetConfig } from "@simclr/encoders"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { CheckpointError, restoreCheckpoint } from "./checkpoint.ts"
import { applyGradients } from "./internal/applyGradients.ts"
import type { Objective, ObjectiveContext, ObjectiveStepResult } from "./objective.ts"
import { disposeState, type OptimizerState } from "./optimizers.ts"
import type { OptimizerConfig } from "./pretrain.ts"
import { makeOptimizer, slotsMismatch } from "./simclrObjective.ts"
import { NonFiniteLoss } from "./simclrStep.ts"
import type { TrainLoopConfig } from "./trainLoop.ts"

/**
 * A distillation run's config (its `config.json`): the loop's fields and the distillation's. A run
 * folder resumes only with the same recipe.
 *
 * @category models
 * @since 0.1.0
 */
export interface DistillConfig extends TrainLoopConfig {
  /** The teacher: a `simclr finetune` output folder. */
  readonly teacher: string
  /** The teacher's input size (its pretrain run's `imageSize`). */
  readonly imageSize: number
  readonly optimizer: OptimizerConfig
  /** τ > 0 of the teacher's targets and the student's softmax (the paper: 1). */
  readonly temperature: number
  /** Weight in [0, 1] of the cross-entropy on the batch's labeled images (0: unlabeled only, the paper's main setting). */
  readonly alpha: number
  /** Drop images whose teacher's largest probability is below it, in [0, 1]; 0 keeps every image. */
  readonly confidenceThreshold: number
  /** Multiply the distillation term by τ² (Hinton et al.); the paper's formula has no factor. */
  readonly scaleByTemperatureSquared: boolean
  readonly student: {
    /** The student's encoder (`@simclr/encoders` resnet config, without `inputShape`: the teacher's image size). */
    readonly encoder: ResNetConfig
    /** `"random"` (seeded by `seed`), or `"pretrained"`: the teacher's pre-trained encoder (its pretrain run's newest checkpoint), which needs the same encoder config. */
    readonly init: "random" | "pretrained"
  }
  /** The labeled data mixed into the stream, as the CLI's `--labeled` named it (recorded: a run resumes only with the same). */
  readonly labeled?: string
  /** Images per teacher forward pass (the targets do not depend on it); default the batch. */
  readonly teacherBatchSize?: number
}

/**
 * What {@link distillObjective} reads from the config.
 *
 * @category models
 * @since 0.1.0
 */
export type DistillObjectiveConfig = Pick<
  DistillConfig,
  "imageSize" | "seed" | "optimizer" | "temperature" | "alpha" | "confidenceThreshold" | "scaleByTemperatureSquared" | "teacherBatchSize"
>

/**
 * The distillation objective: per batch, one augmented view per image (the `finetune` preset, crop +
 * flip, seeded by `batchSeed(batch, seed)` as `finetune` does), the teacher's targets on that view
 * (`teacherTargets`, τ, inference mode), the student's logits in training mode, `distillLoss` (α with
 * the batch's labels, −1 for an unlabeled image; the confidence threshold; the τ² switch), and one
 * optimiser step (`makeOptimizer(config.optimizer)`) on the student's trainable weights only. A
 * non-finite loss throws `NonFiniteLoss` before anything changes. Metrics: `distillMetrics`' `kept`,
 * `dropped`, `agreement` (student argmax = teacher argmax), and `labeled`, `labeledAccuracy` when the
 * batch has labeled images.
 *
 * It owns `teacher` and `student` from the call on: `dispose` frees both and the optimiser state (and so
 * does a throw from this function). Its checkpoints hold the student and the optimiser state; the
 * teacher is never changed.
 *
 * @category training
 * @since 0.1.0
 */
export const distillObjective = (models: { readonly teacher: tfl.LayersModel; readonly student: tfl.LayersModel }, config: DistillObjectiveConfig): Objective => {
  const { teacher, student } = models
  let state: OptimizerState | undefined
  const dispose = () => {
    if (state !== undefined) disposeState(state)
    state = undefined
    student.dispose()
    teacher.dispose()
  }
  try {
    const variables: Record<string, tf.Variable> = {}
    for (const w of student.trainableWeights) variables[w.originalName] = w.read() as tf.Variable
    const optimizer = makeOptimizer(config.optimizer)
    state = optimizer.init(variables)
    const size = config.imageSize
    const augment = { ...augmentPresets.finetune(size), size: [size, size] as [number, number] }
    const base: DistillLossOptions = {
      temperature: config.temperature,
      alpha: config.alpha,
      confidenceThreshold: config.confidenceThreshold,
      scaleByTemperatureSquared: config.scaleByTemperatureSquared
    }

    const step = (batch: ImageBatch, context: ObjectiveContext): ObjectiveStepResult => {
      const { images, labels: labelTensor } = toTensors(batch)
      labelTensor?.dispose()
      let view: tf.Tensor4D
      try {
        view = simclrView(images, augment, batchSeed(batch, config.seed))
      } finally {
        images.dispose()
      }
      const labels = batch.labels ?? (config.alpha > 0 ? new Int32Array(batch.size).fill(-1) : undefined)
      const options: DistillLossOptions = labels === undefined ? base : { ...base, labels }
      const held: Array<tf.Tensor> = [view]
      try {
        const targets = teacherTargets(teacher, view, { temperature: config.temperature, batchSize: config.teacherBatchSize ?? batch.size })
        held.push(targets)
        const { value, grads, logits } = tf.tidy(() => {
          let kept: tf.Tensor2D | undefined
          const result = tf.variableGrads(() => {
            const out = student.apply(view, { training: true }) as tf.Tensor2D
            // Kept: variableGrads frees the forward pass's tensors when it returns.
            kept = tf.keep(out)
            return distillLoss(out, targets, options)
          }, Object.values(variables))
          return { ...result, logits: kept! }
        })
        held.push(value, logits)
        const loss = value.dataSync()[0]!
        if (!Number.isFinite(loss)) {
          tf.dispose(Object.values(grads))
          throw new NonFiniteLoss(loss)
        }
        const m = distillMetrics(logits, targets, options)
        state = applyGradients(variables, grads, optimizer, state!, context.learningRate)
        return {
          loss,
          metrics: {
            kept: m.kept,
            dropped: m.dropped,
            agreement: m.agreement,
            ...(m.labeled > 0 ? { labeled: m.labeled, labeledAccuracy: m.labeledAccuracy! } : {})
          }
        }
      } finally {
        tf.dispose(held)
      }
    }

    return {
      name: "distill",
      metricNames: ["kept", "dropped", "agreement", "labeled", "labeledAccuracy"],
      step,
      snapshot: () => ({ model: student, optimizerState: state! }),
      restore: (checkpoint) => {
        if (checkpoint.objective.size > 0) {
          throw new CheckpointError({
            path: checkpoint.path,
            reason: `holds ${checkpoint.objective.size} tensors of another objective (${[...checkpoint.objective.keys()].slice(0, 2).join(", ")}, …): it was not written by a distillation run`
          })
        }
        const restored = restoreCheckpoint(checkpoint, student)
        const mismatch = slotsMismatch(restored, state!)
        if (mismatch !== undefined) {
          disposeState(restored)
          throw new CheckpointError({ path: checkpoint.path, reason: mismatch })
        }
        disposeState(state!)
        state = restored
      },
      dispose
    }
  } catch (error) {
    dispose()
    throw error
  }
}
