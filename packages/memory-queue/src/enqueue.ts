import * as tf from "@tensorflow/tfjs-core"
import { assertMatrix, InvalidArgumentError, shapeOf } from "@simclr/core"
import { assertLiveQueue, makeQueue, markConsumed } from "./internal/queue.ts"
import type { MemoryQueue } from "./MemoryQueue.ts"

/** `count` rows of `t` from row `start`. */
const rows = (t: tf.Tensor2D, start: number, count: number): tf.Tensor2D => tf.slice(t, [start, 0], [count, -1])

/** The rows, concatenated, leaving out empty ones. */
const stack = (parts: ReadonlyArray<readonly [tf.Tensor2D, number, number]>): tf.Tensor2D =>
  tf.concat(parts.filter(([, , count]) => count > 0).map(([t, start, count]) => rows(t, start, count)), 0)

/**
 * The buffer after writing the B keys one by one at `pointer`, wrapping around: at most three slices
 * and one concatenation, whatever B.
 */
const written = (buffer: tf.Tensor2D, keys: tf.Tensor2D, pointer: number): tf.Tensor2D => {
  const size = buffer.shape[0]
  const b = keys.shape[0]
  if (b >= size) {
    // Only the last `size` keys survive; key B − size + j lands on row (pointer + B − size + j) mod size.
    const next = (pointer + b) % size
    return stack([[keys, b - next, next], [keys, b - size, size - next]])
  }
  if (pointer + b <= size) return stack([[buffer, 0, pointer], [keys, 0, b], [buffer, pointer + b, size - pointer - b]])
  // Wraps: keys [0, n1) go to rows [pointer, size), keys [n1, B) to rows [0, B − n1).
  const n1 = size - pointer
  const n2 = b - n1
  return stack([[keys, n1, n2], [buffer, n2, pointer - n2], [keys, 0, n1]])
}

/**
 * Writes `keys` into the queue in FIFO order at its pointer, wrapping around at the end of the buffer,
 * and returns the queue after the write: `pointer ← (pointer + B) mod size`, `filled ← min(size,
 * filled + B)`. A batch larger than the queue keeps its last `size` rows, where writing them one by one
 * would have left them.
 *
 * **Ownership.** The buffer is overwritten in place (an `assign` to its `tf.Variable`, a few slices and
 * one concatenation), so `queue` is consumed: using it afterwards throws, the tensors `queueState` gave
 * for it are freed, and the returned queue is the live one. `queue = enqueue(queue, keys)` in a loop
 * therefore keeps the tensor count flat. `keys` are copied and stay the caller's (dispose them as usual).
 *
 * **No gradient.** Keys are the momentum network's outputs and enter the buffer by assignment, which
 * tfjs does not differentiate: no gradient ever flows from the buffer back into the keys or the network
 * that made them, even when `enqueue` runs inside `tf.grads`. Compute them under no gradient anyway
 * (outside `tf.grads` / `optimizer.minimize`): that also spares the tape.
 *
 * @example
 * ```ts
 * const keys = tf.tidy(() => l2Normalize(target.apply(views, { training: true }) as tf.Tensor2D))
 * queue = enqueue(queue, keys) // the old queue is consumed
 * keys.dispose()
 * ```
 *
 * @param queue a live queue (from {@link createMemoryQueue}, {@link restoreQueue} or a previous `enqueue`).
 * @param keys float32 `[B, dim]`, B ≥ 1, L2-normalised by the caller (not checked: that would read the
 *   values back from the backend).
 *
 * @throws {InvalidArgumentError} when `queue` is not a queue, was consumed by an earlier `enqueue` or is
 *   disposed; when `keys` is not a float32 rank-2 tensor with at least one row, or its width is not the
 *   queue's `dim`.
 * @since 0.1.0
 * @category queue
 */
export const enqueue = (queue: MemoryQueue, keys: tf.Tensor): MemoryQueue => {
  assertLiveQueue("queue", queue)
  assertMatrix("keys", keys, "[B, dim]")
  if (keys.shape[1] !== queue.dim) {
    throw new InvalidArgumentError("keys", `rows must have the queue's width ${queue.dim}: got shape ${shapeOf(keys.shape)} for a [${queue.size}, ${queue.dim}] queue`)
  }
  const { buffer, size, pointer, filled } = queue
  const b = keys.shape[0]
  tf.tidy(() => {
    buffer.assign(written(buffer, keys, pointer))
  })
  markConsumed(queue)
  return makeQueue(buffer, (pointer + b) % size, Math.min(size, filled + b))
}
