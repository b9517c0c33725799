/**
 * SimCLR v2's memory for TensorFlow.js, as MoCo builds it: a FIFO queue of keys from a momentum network
 * (extra negatives for the contrastive loss), the momentum network itself (a copy of a tfjs-layers
 * model), its exponential-moving-average update and schedule, and the queue's checkpoint state. Plain
 * functions on tensors and models; `@tensorflow/tfjs-core` and `@tensorflow/tfjs-layers` are peer
 * dependencies.
 *
 * @since 0.1.0
 */
export { createMemoryQueue, type MemoryQueueOptions } from "./createMemoryQueue.ts"
export { disposeMemoryQueue } from "./disposeMemoryQueue.ts"
export { enqueue } from "./enqueue.ts"
export type { MemoryQueue } from "./MemoryQueue.ts"
export { momentumEncoder } from "./momentumEncoder.ts"
export { momentumSchedule, type MomentumScheduleOptions } from "./momentumSchedule.ts"
export { momentumUpdate } from "./momentumUpdate.ts"
export { queueNegatives } from "./queueNegatives.ts"
export { DEFAULT_QUEUE_PREFIX, queueState, type QueueStateOptions } from "./queueState.ts"
export { restoreQueue } from "./restoreQueue.ts"
export { InvalidArgumentError, SimclrError } from "@simclr/core"
