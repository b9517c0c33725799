/**
 * SimCLR for TensorFlow.js: pipeline builders and the `simclr` CLI, composed from the @simclr packages:
 * the one training loop with pluggable objectives (SimCLR v1, v2, your own), fine-tuning, evaluations,
 * checkpoints and backends.
 *
 * @since 0.1.0
 */
export { BACKEND_CHOICES, type BackendChoice, BackendUnavailableError, InvalidBackendOptionError, type SelectBackendOptions, type SelectedBackend, selectBackend } from "./backend.ts"
export { type Checkpoint, type CheckpointContents, CheckpointError, readLatestCheckpoint, restoreCheckpoint, writeCheckpoint } from "./checkpoint.ts"
export { demo, type DemoOptions, type DemoResult, formatDemoTable, type RepresentationScore } from "./demo.ts"
export { distill, type DistillOptions, type DistillResult } from "./distill.ts"
export { type DistillConfig, distillObjective, type DistillObjectiveConfig } from "./distillObjective.ts"
export { finetune, type FinetuneConfig, finetuneDefaults, finetunedModel, type FinetuneResult } from "./finetune.ts"
export { buildFinetuned, type LoadedFinetuned, loadFinetuned, readFinetuned, type SavedFinetuned } from "./loadFinetuned.ts"
export { labelSubset, type LabelSubsetOptions } from "./labelSubset.ts"
export { decodePretrainConfig, InvalidConfigError, PRESET_IDS, PretrainConfigSchema, type PresetId, pretrainPresets, v2Defaults, viewConfigOf } from "./config.ts"
export { type LoadedRun, loadRun, readRunConfig } from "./loadRun.ts"
export { type DataSpecOptions, resolveData } from "./resolveData.ts"
export { type ExtractOptions, extractFeatures, type Features } from "./extractFeatures.ts"
export {
  type Accuracy,
  accuracyOf,
  knnEvaluate,
  type KnnOptions,
  knnScores,
  type LinearProbe,
  linearEvaluate,
  linearProbeAccuracy,
  type LinearProbeOptions,
  trainLinearProbe
} from "./evaluate.ts"
export {
  adam,
  type AdamOptions,
  adamw,
  disposeState,
  isNorm,
  isNormOrBias,
  lars,
  type LarsOptions,
  type NamedTensors,
  type Optimizer,
  type OptimizerState,
  sgd,
  type SgdOptions
} from "./optimizers.ts"
export { type LearningRateScaling, scaledLearningRate, type ScheduleOptions, scheduleSteps, warmupCosine } from "./schedules.ts"
export {
  buildSimclrModel,
  makeOptimizer,
  NonFiniteLossError,
  type OptimizerConfig,
  pretrain,
  type PretrainConfig,
  type PretrainOptions,
  type PretrainResult,
  RunFolderError,
  type SimclrV2Config,
  type StepMetrics
} from "./pretrain.ts"
export type { Objective, ObjectiveContext, ObjectiveInfo, ObjectiveSnapshot, ObjectiveStepResult } from "./objective.ts"
export { simclrObjective, simclrV2Objective, simclrV2Step, type SimclrV2StepOptions, type SimclrV2StepResult } from "./simclrObjective.ts"
export { type LoopMetrics, trainLoop, type TrainLoopConfig, type TrainLoopOptions, type TrainLoopResult } from "./trainLoop.ts"
export { NonFiniteLoss, simclrStep, type SimclrStepOptions, type SimclrStepResult, trainableWeights } from "./simclrStep.ts"
export { npyBytes, writeNpy } from "./writeNpy.ts"
