import type * as tf from "@tensorflow/tfjs-core"
import { describe, InvalidArgumentError, knownKeys } from "@simclr/core"
import { assertLiveQueue, stateTensors } from "./internal/queue.ts"
import type { MemoryQueue } from "./MemoryQueue.ts"

/**
 * Options of {@link queueState} and {@link restoreQueue}.
 *
 * @since 0.1.0
 * @category models
 */
export interface QueueStateOptions {
  /**
   * The names' prefix: the state's tensors are `<prefix>/buffer`, `<prefix>/pointer` and
   * `<prefix>/filled`, so one checkpoint can hold several queues. Default `"memory_queue"`.
   */
  readonly prefix?: string
}

/** The default prefix of a queue's tensor names. */
export const DEFAULT_QUEUE_PREFIX = "memory_queue"

const KEYS = ["prefix"] as const

/** @internal the validated prefix */
export const prefixOf = (options: unknown): string => {
  const o = knownKeys("options", options, KEYS)
  const prefix = o["prefix"]
  if (prefix === undefined) return DEFAULT_QUEUE_PREFIX
  if (typeof prefix !== "string" || prefix.length === 0 || prefix.endsWith("/")) {
    throw new InvalidArgumentError("options.prefix", `must be a non-empty string not ending in "/", got ${describe(prefix)}`)
  }
  return prefix
}

/** @internal the three names of a queue's state */
export const stateNames = (prefix: string) => ({ buffer: `${prefix}/buffer`, pointer: `${prefix}/pointer`, filled: `${prefix}/filled` }) as const

/**
 * The queue as named tensors, for a checkpoint: `<prefix>/buffer` (float32 `[size, dim]`, all rows),
 * `<prefix>/pointer` and `<prefix>/filled` (int32 scalars). {@link restoreQueue} reads them back.
 *
 * **Ownership.** The tensors belong to the queue, like a model's `w.read()`: they stay valid (and
 * unchanged, a snapshot of this queue value) until the queue is passed to {@link enqueue} or
 * {@link disposeMemoryQueue}, which frees them; no `tf.tidy` frees them before. Read them (a checkpoint
 * writer calls `dataSync()`), clone what must outlive the next `enqueue`, and do not dispose them
 * (doing so is harmless, though: the buffer is a copy, and the next call makes them again). Calling
 * `queueState` again on the same queue returns the same tensors, so taking snapshots allocates nothing
 * that outlives the step. The copy of the buffer shares its data with the queue until the next write.
 *
 * A SimCLR v2 checkpoint also needs the momentum network's weights: save `target.weights` (every one,
 * batch-norm statistics included) next to them.
 *
 * @example
 * ```ts
 * const state = queueState(queue) // { "memory_queue/buffer", "memory_queue/pointer", "memory_queue/filled" }
 * const values = Object.fromEntries(Object.entries(state).map(([name, t]) => [name, t.dataSync()]))
 * ```
 *
 * @throws {InvalidArgumentError} when `queue` is not a live queue, or on a bad `prefix` or unknown option.
 * @since 0.1.0
 * @category checkpoints
 */
export const queueState = (queue: MemoryQueue, options?: QueueStateOptions): Record<string, tf.Tensor> => {
  assertLiveQueue("queue", queue)
  const names = stateNames(prefixOf(options))
  const [buffer, pointer, filled] = stateTensors(queue)
  return { [names.buffer]: buffer, [names.pointer]: pointer, [names.filled]: filled }
}
