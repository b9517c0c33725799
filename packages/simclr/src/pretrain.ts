/**
 * SimCLR pre-training (v1, or v2 with a momentum network and a memory queue) on the one training loop
 * (`trainLoop`): batches from `@simclr/data-stream`, two views from `@simclr/augment`, encoder and head
 * from `@simclr/encoders` / `@simclr/heads`, the official schedule, a run folder with metrics and
 * checkpoints, resume from the newest checkpoint, a stop on a non-finite loss, and a clean stop on
 * request (Ctrl-C in the CLI).
 *
 *   <out>/config.json     the run's configuration
 *   <out>/metrics.jsonl   one line per logged step: step, epoch, loss, contrastive accuracy and entropy, lr, images/s
 *   <out>/checkpoints/    step-NNNNNNNN/ (the newest `keepCheckpoints`)
 *   <out>/results.json    written when the run ends: steps, last metrics, wall time, how it ended
 *
 * @since 0.1.0
 */
import type { PresetName, ViewConfig } from "@simclr/augment"
import type { DataStreamError, SourceLike } from "@simclr/data-stream"
import type { ResNetConfig } from "@simclr/encoders"
import type { ProjectionHeadConfig } from "@simclr/heads"
import type { Effect } from "effect"
import type { CheckpointError } from "./checkpoint.ts"
import { simclrObjective, simclrV2Objective } from "./simclrObjective.ts"
import type { LearningRateScaling } from "./schedules.ts"
import { type NonFiniteLossError, type RunFolderError, trainLoop, type TrainLoopConfig, type TrainLoopOptions, type TrainLoopResult } from "./trainLoop.ts"

export { buildSimclrModel, makeOptimizer } from "./simclrObjective.ts"
export { NonFiniteLossError, RunFolderError, TEMP } from "./trainLoop.ts"

/**
 * The SimCLR v2 additions to a pre-training run: a momentum network and a FIFO memory queue of its keys
 * used as extra negatives (`@simclr/memory-queue`).
 *
 * @category models
 * @since 0.1.0
 */
export interface SimclrV2Config {
  /** Rows of the memory queue: each step enqueues the keys of both views (2 × batch size rows). */
  readonly queueSize: number
  /** The momentum network's decay m (θ ← m·θ + (1 − m)·θ_online), in [0, 1]. */
  readonly momentum: number
  /** `"constant"` (default) or `"cosine"`: BYOL's increase of m to 1 over the run. */
  readonly momentumSchedule?: "constant" | "cosine"
  /**
   * `"online"` (default): NT-Xent of z₁ and z₂ with in-batch negatives plus the queue's rows (SimCLR v2).
   * `"momentum"`: MoCo's loss, z₁ against the key k₂ and z₂ against k₁, negatives from the queue.
   */
  readonly positives?: "online" | "momentum"
}

/**
 * @category models
 * @since 0.1.0
 */
export interface OptimizerConfig {
  readonly name: "lars" | "sgd" | "adam" | "adamw"
  /** The base rate, scaled by `scaling` (official: 0.3 linear; CIFAR-10 recipe 1.0 linear; ImageNet 0.075 sqrt). */
  readonly learningRate: number
  readonly scaling: LearningRateScaling
  readonly weightDecay: number
  /** LARS and SGD; default 0.9. */
  readonly momentum?: number
  /** Default 10 (official). */
  readonly warmupEpochs?: number
}

/**
 * Everything a pre-training run needs, all JSON (it is written to `config.json`): the loop's fields
 * (`TrainLoopConfig`: batch size, epochs or `trainSteps`, seed, image size, checkpoints, decoding) and
 * SimCLR's (network, loss, optimiser, augmentation, probe, v2).
 *
 * @category models
 * @since 0.1.0
 */
export interface PretrainConfig extends TrainLoopConfig {
  /** NT-Xent's τ. */
  readonly temperature: number
  readonly encoder: ResNetConfig
  /** The head without `inputDim` (taken from the encoder). */
  readonly head: Omit<ProjectionHeadConfig, "inputDim">
  /** The optimiser and the schedule's base rate, scaling and warm-up. */
  readonly optimizer: OptimizerConfig
  /** A preset name of `@simclr/augment` or a `ViewConfig`; its output size is set to `imageSize`. */
  readonly augment: ViewConfig | PresetName
  /**
   * Train a linear classifier on stop-gradient h alongside, when the source has labels (official
   * `lineareval_while_pretraining`, default true): its accuracy in `metrics.jsonl` shows how linearly
   * separable the features are becoming, at no cost to the pre-training. Unlabeled sources skip it.
   */
  readonly linearProbe?: boolean
  /**
   * Images per encoder pass (GradCache; see `simclrStep`'s `chunkSize`): a batch larger than memory
   * allows (wasm's heap is 4 GiB) trains in chunks with cached embedding gradients. Batch norm
   * statistics are then per chunk. Default: the whole batch at once.
   */
  readonly chunkSize?: number
  /** SimCLR v2's momentum network and memory queue; unset: SimCLR v1. */
  readonly v2?: SimclrV2Config
}

/**
 * One line of `metrics.jsonl`.
 *
 * @category models
 * @since 0.1.0
 */
export interface StepMetrics {
  readonly step: number
  readonly epoch: number
  readonly loss: number
  readonly contrastiveAccuracy: number
  readonly contrastiveEntropy: number
  readonly learningRate: number
  readonly imagesPerSecond: number
  readonly skippedImages: number
  /** The online linear probe's cross-entropy and top-1 accuracy on this batch (both views), when it runs. */
  readonly probeLoss?: number
  readonly probeAccuracy?: number
  /** SimCLR v2: the queue's rows used as negatives in this step, and the momentum m applied after it. */
  readonly queueRows?: number
  readonly momentum?: number
}

/**
 * @category models
 * @since 0.1.0
 */
export type PretrainResult = TrainLoopResult<StepMetrics>
/**
 * @category models
 * @since 0.1.0
 */
export type PretrainOptions = TrainLoopOptions<StepMetrics>

/**
 * Pre-trains a SimCLR encoder + head on `source` in the current tfjs backend: `trainLoop` with
 * `simclrObjective` (v1), or `simclrV2Objective` when the config has a `v2` block. Re-running with the
 * same `out` resumes from the newest checkpoint, and on a deterministic backend (cpu) the resumed run's
 * losses equal an uninterrupted run's (for v2, the momentum network and the queue are checkpointed too).
 *
 * @category training
 * @since 0.1.0
 */
export const pretrain = <E>(
  source: SourceLike<E>,
  config: PretrainConfig,
  options: PretrainOptions
): Effect.Effect<PretrainResult, E | DataStreamError | CheckpointError | NonFiniteLossError | RunFolderError> =>
  trainLoop(source, config, (info) => config.v2 === undefined ? simclrObjective(config, info) : simclrV2Objective({ ...config, v2: config.v2 }, info), options)
