import * as tf from "@tensorflow/tfjs-core"
import { describe, InvalidArgumentError, knownKeys, numberIn } from "@simclr/core"
import { makeQueue } from "./internal/queue.ts"
import type { MemoryQueue } from "./MemoryQueue.ts"

/**
 * Options of {@link createMemoryQueue}.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryQueueOptions {
  /** Rows: how many keys the queue holds (MoCo: 65,536; SimCLR v2 on a CPU: a few thousand). Integer ≥ 1. */
  readonly size: number
  /** Width of a key (the projection z, e.g. 128). Integer ≥ 1. */
  readonly dim: number
}

const KEYS = ["size", "dim"] as const

/** The largest row count or width: tfjs indexes tensors with 32-bit integers. */
export const MAX_EXTENT = 2 ** 31 - 1

/** @internal an integer option in [1, MAX_EXTENT] that must be given */
export const requiredExtent = (name: string, value: unknown, meaning: string): number => {
  if (value === undefined) throw new InvalidArgumentError(name, `is required (${meaning}): an integer ≥ 1, got ${describe(value)}`)
  return numberIn(name, value, Number.NaN, [1, MAX_EXTENT], { integer: true })
}

/**
 * An empty memory queue: a zero `[size, dim]` float32 buffer (a non-trainable `tf.Variable`, so no
 * optimiser or gradient ever touches it and no `tf.tidy` frees it), `pointer` 0, `filled` 0. Costs
 * `size × dim × 4` bytes (65,536 × 128: 32 MiB). Free it with {@link disposeMemoryQueue}.
 *
 * @example
 * ```ts
 * let queue = createMemoryQueue({ size: 4096, dim: 128 })
 * ```
 *
 * @throws {InvalidArgumentError} when `size` or `dim` is missing or not an integer ≥ 1, or on an unknown
 *   option.
 * @since 0.1.0
 * @category constructors
 */
export const createMemoryQueue = (options: MemoryQueueOptions): MemoryQueue => {
  if (options === undefined) throw new InvalidArgumentError("options", "is required: { size, dim }")
  const o = knownKeys("options", options, KEYS)
  const size = requiredExtent("options.size", o["size"], "the number of keys the queue holds")
  const dim = requiredExtent("options.dim", o["dim"], "the width of a key")
  if (size * dim > MAX_EXTENT) {
    throw new InvalidArgumentError("options.size", `size × dim must be at most ${MAX_EXTENT} values (tfjs's tensor limit), got ${size} × ${dim}`)
  }
  // In a tidy: the variable shares the zeros' data, and the zeros tensor itself is freed.
  const buffer = tf.tidy(() => tf.variable(tf.zeros([size, dim], "float32"), false) as tf.Variable<tf.Rank.R2>)
  return makeQueue(buffer, 0, 0)
}
