import type * as tf from "@tensorflow/tfjs-core"

/**
 * A FIFO memory queue of keys (MoCo's queue, SimCLR v2's memory): `size` rows of width `dim`, written at
 * `pointer` and wrapping around, of which the first `filled` hold keys.
 *
 * A value, not an object with methods: {@link enqueue} takes one and returns the next. Its `buffer` is
 * a non-trainable `tf.Variable` that `enqueue` overwrites in place, so the queue passed to `enqueue` is
 * *consumed* (any later use of it throws; the returned queue is the live one) and
 * `queue = enqueue(queue, keys)` in a loop allocates nothing that outlives the step. Read `buffer`, but
 * never dispose or assign it yourself: {@link disposeMemoryQueue} frees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryQueue {
  /** float32 `[size, dim]`, zero-initialised; rows `[0, filled)` hold keys (in buffer order, not by age). */
  readonly buffer: tf.Tensor2D
  /** The row the next key is written to, in `[0, size)`. */
  readonly pointer: number
  /** How many rows hold keys, in `[0, size]`: `min(size, keys enqueued so far)`. */
  readonly filled: number
  /** Rows of the buffer (the most keys the queue holds). */
  readonly size: number
  /** Width of a key. */
  readonly dim: number
}
