/**
 * ResNet encoders for SimCLR as TensorFlow.js layers models. Pure functions; `@tensorflow/tfjs-core` and
 * `@tensorflow/tfjs-layers` are peer dependencies. Importing the package registers its custom layers
 * (`SimclrSkStreamSum`, `SimclrSkMix`) and its {@link BatchNormalization} under the stock class name
 * `"BatchNormalization"`, so every layers model deserialised in the process afterwards gets it: the
 * same function and config, with fused training kernels where the backend registers them.
 *
 * @since 0.1.0
 */
export { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, BatchNormalization, batchNormTraining, hasFusedBatchNorm } from "./batchNorm.ts"
export { SkMix, SkStreamSum } from "./layers.ts"
export {
  loadTorchvisionWeights,
  type TorchvisionLoadOptions,
  type TorchvisionLoadReport
} from "./loadTorchvisionWeights.ts"
export { resnet, type ResNetConfig, type ResNetDepth } from "./resnet.ts"
export { loadModel, saveModel } from "./saveModel.ts"
export { InvalidArgumentError, SimclrError } from "@simclr/core"
