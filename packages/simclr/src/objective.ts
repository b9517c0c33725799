/**
 * What the one training loop (`trainLoop`) asks of a training objective. The loop owns the run folder,
 * the stream of batches, the learning-rate schedule, checkpoints and resume, metrics, progress, the
 * stop on a non-finite loss and the stop on request; an objective owns the tensors it trains and
 * everything its step needs (networks, optimiser state, a memory queue, a teacher), and knows nothing
 * of files. SimCLR v1 (`simclrObjective`) and v2 (`simclrV2Objective`) are objectives; so is any object
 * of this shape a user writes.
 *
 * @since 0.1.0
 */
import type { ImageBatch } from "@simclr/data-stream"
import type * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import type { Checkpoint } from "./checkpoint.ts"
import type { OptimizerState } from "./optimizers.ts"

/**
 * What the loop knows about the run when it builds the objective.
 *
 * @category models
 * @since 0.1.0
 */
export interface ObjectiveInfo {
  /** The source's class names, when it has labels (an objective may train an online probe on them). */
  readonly classes: ReadonlyArray<string> | undefined
  /** Images per epoch. */
  readonly examples: number
  /** Optimisation steps per epoch (whole batches). */
  readonly stepsPerEpoch: number
  /** Steps of the whole run (`epochs × stepsPerEpoch`; `maxSteps` does not shorten it, as it does not shorten the schedule). */
  readonly totalSteps: number
}

/**
 * Where the loop is when it calls `step`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ObjectiveContext {
  /** Steps done before this one (0 for the first step of a run). */
  readonly step: number
  readonly epoch: number
  /** The schedule's learning rate for this step. */
  readonly learningRate: number
}

/**
 * What one step reports: its loss and the objective's other metrics (plain numbers, one line of
 * `metrics.jsonl` each logged step).
 *
 * @category models
 * @since 0.1.0
 */
export interface ObjectiveStepResult {
  readonly loss: number
  readonly metrics: Readonly<Record<string, number>>
}

/**
 * The tensors a checkpoint of the objective holds: the trained model's weights (so the run's model can
 * be loaded without the objective), the optimiser's state, weights trained beside the model (an online
 * probe), and the objective's other tensors (a memory queue, a momentum network).
 *
 * @category models
 * @since 0.1.0
 */
export interface ObjectiveSnapshot {
  readonly model: tfl.LayersModel
  readonly optimizerState: OptimizerState
  readonly extraWeights?: Readonly<Record<string, tf.Tensor>> | undefined
  readonly objectiveTensors?: Readonly<Record<string, tf.Tensor>> | undefined
}

/**
 * A training objective for `trainLoop`.
 *
 * - `step(batch, context)` trains on one batch of decoded images (bytes: the objective makes its views)
 *   and returns the loss and metrics. It throws `NonFiniteLoss` (from `simclrStep`) when the loss is
 *   not finite, before changing anything: the loop then stops the run and keeps the last checkpoint.
 * - `snapshot()` names every tensor a checkpoint must hold to continue exactly where the run was.
 * - `restore(checkpoint)` sets them back (throws, naming what does not fit).
 * - `dispose()` frees everything the objective made.
 *
 * @category models
 * @since 0.1.0
 */
export interface Objective {
  /** Written to `results.json` (e.g. `"simclr-v1"`). */
  readonly name: string
  /** The metric names `step` reports, besides `loss`. */
  readonly metricNames: ReadonlyArray<string>
  readonly step: (batch: ImageBatch, context: ObjectiveContext) => ObjectiveStepResult
  readonly snapshot: () => ObjectiveSnapshot
  readonly restore: (checkpoint: Checkpoint) => void
  readonly dispose: () => void
}
