/** The queue's bookkeeping: building queue values, marking consumed ones, checking a queue argument. */
import * as tf from "@tensorflow/tfjs-core"
import { describe, InvalidArgumentError } from "@simclr/core"
import type { MemoryQueue } from "../MemoryQueue.ts"

/** Queues passed to `enqueue`: their buffer now belongs to the queue `enqueue` returned. */
const consumed = new WeakSet<object>()

/** A frozen queue value around `buffer` (a non-trainable `tf.Variable`). */
export const makeQueue = (buffer: tf.Variable<tf.Rank.R2>, pointer: number, filled: number): MemoryQueue =>
  Object.freeze({ buffer, pointer, filled, size: buffer.shape[0], dim: buffer.shape[1] })

/** The tensors `queueState` handed out for a queue value: [buffer copy, pointer, filled], owned by it. */
const states = new WeakMap<MemoryQueue, ReadonlyArray<tf.Tensor>>()

/**
 * The queue value's state tensors, made on first use and kept (no enclosing `tf.tidy` frees them) until
 * {@link releaseState}; made again if the caller disposed any of them.
 */
export const stateTensors = (queue: MemoryQueue): readonly [tf.Tensor2D, tf.Scalar, tf.Scalar] => {
  const cached = states.get(queue)
  if (cached !== undefined && cached.every((t) => !t.isDisposed)) return cached as readonly [tf.Tensor2D, tf.Scalar, tf.Scalar]
  if (cached !== undefined) tf.dispose([...cached])
  // The copy of the buffer shares its data (reference-counted), so it costs no memory until the next write.
  const made = [tf.keep(tf.clone(queue.buffer)), tf.keep(tf.scalar(queue.pointer, "int32")), tf.keep(tf.scalar(queue.filled, "int32"))] as const
  states.set(queue, made)
  return made
}

/** Frees the state tensors handed out for a queue value, if any. */
export const releaseState = (queue: MemoryQueue): void => {
  const cached = states.get(queue)
  if (cached === undefined) return
  states.delete(queue)
  tf.dispose([...cached])
}

export const markConsumed = (queue: MemoryQueue): void => {
  consumed.add(queue)
  releaseState(queue)
}

export const isConsumed = (queue: MemoryQueue): boolean => consumed.has(queue)

/** Asserts a queue value (any state: live, consumed or disposed). */
export function assertQueueShaped(name: string, value: unknown): asserts value is MemoryQueue {
  const q = value as Partial<Record<keyof MemoryQueue, unknown>> | null
  const ok =
    typeof value === "object" &&
    q !== null &&
    q.buffer instanceof tf.Variable &&
    q.buffer.rank === 2 &&
    typeof q.pointer === "number" &&
    typeof q.filled === "number" &&
    typeof q.size === "number" &&
    typeof q.dim === "number"
  if (!ok) {
    throw new InvalidArgumentError(name, `expected a MemoryQueue (from createMemoryQueue, enqueue or restoreQueue), got ${value instanceof tf.Tensor ? describe(value) : describe(q === null || typeof q !== "object" ? q : Object.keys(q))}`)
  }
}

/** Asserts a queue that can still be used: neither consumed by `enqueue` nor disposed. */
export function assertLiveQueue(name: string, value: unknown): asserts value is MemoryQueue & { readonly buffer: tf.Variable<tf.Rank.R2> } {
  assertQueueShaped(name, value)
  if (consumed.has(value)) {
    throw new InvalidArgumentError(
      name,
      "was consumed by enqueue, which overwrites the buffer in place: use the queue enqueue returned (queue = enqueue(queue, keys))"
    )
  }
  if (value.buffer.isDisposed) throw new InvalidArgumentError(name, "is disposed (disposeMemoryQueue freed its buffer)")
}
