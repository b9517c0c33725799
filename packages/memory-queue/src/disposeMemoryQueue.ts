import { assertQueueShaped, isConsumed, releaseState } from "./internal/queue.ts"
import type { MemoryQueue } from "./MemoryQueue.ts"

/**
 * Frees the queue's buffer (and the tensors {@link queueState} handed out for it). Idempotent: disposing
 * a disposed queue does nothing, and so does disposing a queue consumed by {@link enqueue} (its buffer
 * belongs to the queue `enqueue` returned, which is the one to dispose). Any later use of a disposed
 * queue throws an `InvalidArgumentError` naming it.
 *
 * @example
 * ```ts
 * disposeMemoryQueue(queue)
 * ```
 *
 * @throws {InvalidArgumentError} when `queue` is not a queue.
 * @since 0.1.0
 * @category queue
 */
export const disposeMemoryQueue = (queue: MemoryQueue): void => {
  assertQueueShaped("queue", queue)
  releaseState(queue)
  if (isConsumed(queue) || queue.buffer.isDisposed) return
  queue.buffer.dispose()
}
