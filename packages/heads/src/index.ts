/**
 * SimCLR v1/v2 projection and supervised heads as TensorFlow.js layers models, and their composition
 * with an encoder. Pure; `@tensorflow/tfjs-core` and `@tensorflow/tfjs-layers` are peer dependencies.
 * Importing the package registers its custom layer (`SimclrBatchNormalization`), which loading a saved
 * head needs.
 *
 * @since 0.1.0
 */
export { SimclrBatchNormalization } from "./layers.ts"
export { headPresets, projectionHead, type ProjectionHeadConfig, type ProjectionMode } from "./projectionHead.ts"
export { simclrModel } from "./simclrModel.ts"
export { InvalidArgumentError, SimclrError } from "@simclr/core"
export { supervisedHead, type SupervisedHeadOptions } from "./supervisedHead.ts"
