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
  identityConfig,
  meanConfig,
  registerWasmTrainingKernels,
  sumConfig,
  tileConfig
} from "./registerWasmTrainingKernels.ts"
