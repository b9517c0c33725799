/**
 * Kernels TensorFlow.js's wasm backend lacks for training, registered with `registerWasmTrainingKernels()`.
 * Pure tfjs; no effect.
 *
 * @since 0.1.0
 */
export {
  batchMatMulConfig,
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  fusedMatMulConfig,
  gatherV2Config,
  identityConfig,
  meanConfig,
  registerWasmTrainingKernels,
  reverseConfig,
  sliceConfig,
  sumConfig,
  tileConfig
} from "./registerWasmTrainingKernels.ts"
export { meanGradConfig, sumGradConfig } from "./gradients.ts"
