import * as tf from "@tensorflow/tfjs-core"
import { assertLiveQueue } from "./internal/queue.ts"
import type { MemoryQueue } from "./MemoryQueue.ts"

/**
 * The queue's keys as negatives: a new float32 `[filled, dim]` tensor holding the filled rows only (in
 * buffer order), so a partly filled queue never hands out its zero rows and an empty one gives
 * `[0, dim]` (which `ntXent`'s `negatives` treats as none). The caller disposes it, or makes it inside a
 * `tf.tidy`. It is a snapshot: later `enqueue`s do not change it.
 *
 * No gradient reaches the queue through it: the buffer is a non-trainable variable, so
 * `tf.variableGrads` and `optimizer.minimize` never return or update it.
 *
 * @example
 * ```ts
 * const negatives = queueNegatives(queue)
 * const loss = ntXent(z1, z2, { temperature: 0.2, negatives })
 * negatives.dispose()
 * ```
 *
 * @throws {InvalidArgumentError} when `queue` is not a queue, was consumed by `enqueue` or is disposed.
 * @since 0.1.0
 * @category queue
 */
export const queueNegatives = (queue: MemoryQueue): tf.Tensor2D => {
  assertLiveQueue("queue", queue)
  return tf.slice(queue.buffer, [0, 0], [queue.filled, queue.dim])
}
