/**
 * Contrastive and distillation losses of SimCLR v1/v2 for TensorFlow.js. Pure functions on tensors:
 * bring your own model and backend (`@tensorflow/tfjs-core` is a peer dependency).
 *
 * @since 0.1.0
 */
export { distillationLoss, type DistillationLossOptions } from "./distillationLoss.ts"
export { infoNce, type InfoNceOptions } from "./infoNce.ts"
export { LARGE_NUM, ntXent, type NtXentOptions, type NtXentReduction } from "./ntXent.ts"
export { type NtXentMetrics, ntXentMetrics } from "./ntXentMetrics.ts"
export { InvalidArgumentError, SimclrError } from "@simclr/core"
